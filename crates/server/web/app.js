document.getElementById("app").textContent = "Chronicle";
