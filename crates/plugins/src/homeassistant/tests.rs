//! `homeassistant` against a fake Home Assistant on 127.0.0.1 that checks the Bearer token,
//! answers the template strings the plugin sends, `/api/states` and
//! `/api/services/{domain}/{service}`, and records every request.
//!
//! The home: `kitchen` (Kitchen Ceiling, Kitchen Counter: lights; Kitchen Fan: a switch) and
//! `living_room` (Sofa Lamp); the label `hall` is on `living_room`. A `garage` (Garage Light)
//! appears when a test adds it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chronicle_host_ports::{BackendError, LanguageModel};
use chronicle_plugin_api::{
    CloseReason, Delivery, Event, JsonMap, Plugin, PluginContext, PluginResult, ServiceError,
    Services, Settings, async_trait, parse_settings,
};
use chronicle_plugin_host::Status;
use serde_json::{Value, json};

use super::config::TargetType;
use super::home::{AREAS_TEMPLATE, Area, LABELS_TEMPLATE, Label, Snapshot};
use super::parser::{Action, Command, LlmVerdict, parse_keywords, parse_llm_answer};
use super::plugin::SLOW;
use super::{DESCRIPTOR, HomeAssistantPlugin};
use crate::testing::{Harness, TestCa, assert_plugin_compliance, closed_port, result_of};

const TOKEN: &str = "test-token";

/// What the fake Home Assistant saw, and whether the garage exists yet.
#[derive(Default)]
struct FakeHome {
    templates: Mutex<Vec<String>>,
    states_reads: Mutex<usize>,
    calls: Mutex<Vec<(String, String, Value)>>,
    garage: AtomicBool,
    /// Answers `labels()` with 400, as Home Assistant before labels did.
    no_labels: AtomicBool,
    /// Answers everything with 503, as a proxy does while Home Assistant restarts.
    down: AtomicBool,
    /// Refuses every `switch` service, as for a switch Home Assistant cannot reach.
    refuse_switches: AtomicBool,
    /// Milliseconds the areas template takes, as on a large or busy home.
    areas_delay_ms: AtomicU64,
}

impl FakeHome {
    fn template_count(&self, template: &str) -> usize {
        self.templates
            .lock()
            .expect("lock")
            .iter()
            .filter(|seen| *seen == template)
            .count()
    }

    fn calls(&self) -> Vec<(String, String, Value)> {
        self.calls.lock().expect("lock").clone()
    }

    fn render(&self, template: &str) -> Option<Value> {
        Some(match template {
            "{{ 1 + 1 }}" => Value::from("2"),
            AREAS_TEMPLATE => {
                let mut areas = vec![
                    json!({"id": "kitchen", "name": "Kitchen", "entities": [
                        "light.kitchen_ceiling", "light.kitchen_counter", "switch.kitchen_fan"
                    ]}),
                    json!({"id": "living_room", "name": "Living Room", "entities": ["light.sofa_lamp"]}),
                ];
                if self.garage.load(Ordering::SeqCst) {
                    areas.push(
                        json!({"id": "garage", "name": "Garage", "entities": ["light.garage"]}),
                    );
                }
                Value::Array(areas)
            }
            LABELS_TEMPLATE if self.no_labels.load(Ordering::SeqCst) => return None,
            LABELS_TEMPLATE => json!([{"id": "hall", "areas": ["living_room"]}]),
            _ => return None,
        })
    }

    fn states(&self) -> Value {
        let state = |id: &str, name: &str| json!({"entity_id": id, "state": "on", "attributes": {"friendly_name": name}});
        let mut states = vec![
            state("light.kitchen_ceiling", "Kitchen Ceiling"),
            state("light.kitchen_counter", "Kitchen Counter"),
            state("switch.kitchen_fan", "Kitchen Fan"),
            state("light.sofa_lamp", "Sofa Lamp"),
            state("sensor.kitchen_temperature", "Kitchen Temperature"),
            json!({"entity_id": "sun.sun", "state": "above_horizon", "attributes": {}}),
        ];
        if self.garage.load(Ordering::SeqCst) {
            states.push(state("light.garage", "Garage Light"));
        }
        Value::Array(states)
    }
}

/// `Err` with the answer when the fake is down or the token is wrong.
fn admit(home: &FakeHome, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    if home.down.load(Ordering::SeqCst) {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable".to_owned(),
        ));
    }
    if !authorized(headers) {
        return Err((StatusCode::UNAUTHORIZED, "401: Unauthorized".to_owned()));
    }
    Ok(())
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
}

/// Serves the fake Home Assistant; its base URL.
async fn fake_home_assistant() -> (String, Arc<FakeHome>) {
    let home = Arc::new(FakeHome::default());
    let app = axum::Router::new()
        .route(
            "/api/template",
            axum::routing::post(
                move |State(home): State<Arc<FakeHome>>,
                      headers: HeaderMap,
                      Json(body): Json<Value>| async move {
                    if let Err(refused) = admit(&home, &headers) {
                        return refused;
                    }
                    let template = body["template"].as_str().unwrap_or_default().to_owned();
                    home.templates.lock().expect("lock").push(template.clone());
                    if template == AREAS_TEMPLATE {
                        let delay = home.areas_delay_ms.load(Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    match home.render(&template) {
                        Some(Value::String(text)) => (StatusCode::OK, text),
                        Some(value) => (StatusCode::OK, value.to_string()),
                        None => (
                            StatusCode::BAD_REQUEST,
                            format!("Error rendering template: unknown {template}"),
                        ),
                    }
                },
            ),
        )
        .route(
            "/api/states",
            axum::routing::get(
                move |State(home): State<Arc<FakeHome>>, headers: HeaderMap| async move {
                    if let Err(refused) = admit(&home, &headers) {
                        return refused;
                    }
                    *home.states_reads.lock().expect("lock") += 1;
                    (StatusCode::OK, home.states().to_string())
                },
            ),
        )
        .route(
            "/api/services/{domain}/{service}",
            axum::routing::post(
                move |State(home): State<Arc<FakeHome>>,
                      Path((domain, service)): Path<(String, String)>,
                      headers: HeaderMap,
                      Json(body): Json<Value>| async move {
                    if let Err(refused) = admit(&home, &headers) {
                        return refused;
                    }
                    if service == "dance"
                        || (domain == "switch" && home.refuse_switches.load(Ordering::SeqCst))
                    {
                        return (
                            StatusCode::BAD_REQUEST,
                            format!("Service {domain}.{service} not found."),
                        );
                    }
                    let changed: Vec<Value> = body["entity_id"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|id| json!({"entity_id": id, "state": "off"}))
                        .collect();
                    home.calls
                        .lock()
                        .expect("lock")
                        .push((domain, service, body));
                    (StatusCode::OK, Value::Array(changed).to_string())
                },
            ),
        )
        .with_state(Arc::clone(&home));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}"), home)
}

/// `homeassistant` on live transcripts behind the wake word, and `test_event` after it.
fn plugins_yml(url: &str, extra: &str) -> String {
    format!(
        "plugins:
  homeassistant:
    enabled: true
    events: [transcript.streaming, button.single_press, button.double_press, plugin_action]
    condition: {{type: wake_word, wake_words: [hey hermes]}}
    timeout: 15
    ha_url: {url}
    ha_token: {TOKEN}
{extra}  test_event:
    enabled: true
    events: [transcript.streaming]
    permissions: [database]
"
    )
}

/// A model that answers `answer` and keeps the prompts.
struct FakeLlm {
    answer: String,
    prompts: Mutex<Vec<String>>,
}

#[async_trait]
impl LanguageModel for FakeLlm {
    async fn generate(&self, prompt: &str) -> Result<String, BackendError> {
        self.prompts.lock().expect("lock").push(prompt.to_owned());
        Ok(self.answer.clone())
    }
}

fn fake_llm(answer: &str) -> Arc<FakeLlm> {
    Arc::new(FakeLlm {
        answer: answer.to_owned(),
        prompts: Mutex::default(),
    })
}

async fn say(harness: &Harness, transcript: &str) -> Arc<chronicle_plugin_host::DispatchRecord> {
    harness
        .dispatch(
            Event::TranscriptStreaming,
            json!({"transcript": transcript}),
        )
        .await
}

#[tokio::test]
async fn complies() {
    assert_plugin_compliance(&DESCRIPTOR, "llm").await;
}

#[tokio::test]
async fn a_spoken_command_turns_off_the_area_lights_and_stops_the_chain() {
    let (url, home) = fake_home_assistant().await;
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    assert_eq!(harness.status("homeassistant").0, "initialized");
    let record = say(&harness, "Hey Hermes, turn off the kitchen lights.").await;
    let result = result_of(&record, "homeassistant");
    assert!(result.success, "{result:?}");
    assert_eq!(
        result.message.as_deref(),
        Some("I've turned off 2 lights in kitchen")
    );
    assert!(!result.should_continue);
    assert_eq!(
        home.calls(),
        [(
            "light".to_owned(),
            "turn_off".to_owned(),
            json!({"entity_id": ["light.kitchen_ceiling", "light.kitchen_counter"]})
        )]
    );
    assert_eq!(result.data["action"], "turn_off");
    assert_eq!(result.data["target_type"], "area");
    assert_eq!(result.data["target"], "kitchen");
    assert_eq!(result.data["parser"], "keywords", "no permission `llm`");
    assert_eq!(
        result.data["ha_result"],
        json!([
            {"entity_id": "light.kitchen_ceiling", "state": "off"},
            {"entity_id": "light.kitchen_counter", "state": "off"}
        ])
    );
    let after = record.outcome("test_event").expect("subscribed");
    assert_eq!(after.status, Status::Skipped);
    assert_eq!(
        after.reason.as_deref(),
        Some("chain stopped by `homeassistant`")
    );

    let record = say(&harness, "What a nice day").await;
    assert_eq!(
        record.outcome("homeassistant").expect("subscribed").status,
        Status::Skipped,
        "no wake word, no command"
    );
}

#[tokio::test]
async fn the_language_model_parses_with_the_home_in_its_prompt() {
    let (url, home) = fake_home_assistant().await;
    let llm = fake_llm(
        "```json\n{\"action\": \"set_brightness\", \"target_type\": \"area\", \"target\": \
         \"living_room\", \"entity_type\": \"light\", \"parameters\": {\"brightness_pct\": 40}}\n```",
    );
    let yml = plugins_yml(&url, "    permissions: [llm]\n");
    let harness = Harness::with_llm(&yml, llm.clone()).await;
    let record = say(&harness, "Hey Hermes, dim the lounge to forty percent").await;
    let result = result_of(&record, "homeassistant");
    assert!(result.success, "{result:?}");
    assert_eq!(result.data["parser"], "llm");
    assert_eq!(
        result.message.as_deref(),
        Some("I've set 1 light in living room to 40%")
    );
    assert_eq!(
        home.calls(),
        [(
            "light".to_owned(),
            "turn_on".to_owned(),
            json!({"entity_id": ["light.sofa_lamp"], "brightness_pct": 40})
        )]
    );
    let prompts = llm.prompts.lock().expect("lock").clone();
    assert_eq!(prompts.len(), 1);
    for known in [
        "kitchen (Kitchen)",
        "living_room (Living Room)",
        "Labels (groups of areas): hall",
        "Sofa Lamp",
        "Command: dim the lounge to forty percent",
    ] {
        assert!(prompts[0].contains(known), "{known:?} in {}", prompts[0]);
    }
    assert!(
        !prompts[0].contains("Kitchen Temperature"),
        "sensors are not devices to command"
    );
}

#[tokio::test]
async fn garbage_from_the_model_falls_back_to_the_keywords() {
    let (url, home) = fake_home_assistant().await;
    let llm = fake_llm("Sure! I'd turn those lights off for you.");
    let yml = plugins_yml(&url, "    permissions: [llm]\n");
    let harness = Harness::with_llm(&yml, llm.clone()).await;
    let record = say(&harness, "Hey Hermes, switch off the kitchen lights").await;
    let result = result_of(&record, "homeassistant");
    assert!(result.success, "{result:?}");
    assert_eq!(result.data["parser"], "keywords");
    assert_eq!(
        llm.prompts.lock().expect("lock").len(),
        1,
        "the model was asked"
    );
    assert_eq!(home.calls()[0].1, "turn_off");
}

#[tokio::test]
async fn everything_in_an_area_is_one_call_per_domain() {
    let (url, home) = fake_home_assistant().await;
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let record = say(&harness, "Hey Hermes, turn off everything in the kitchen").await;
    let result = result_of(&record, "homeassistant");
    assert_eq!(
        result.message.as_deref(),
        Some("I've turned off 3 devices in kitchen"),
        "{result:?}"
    );
    assert_eq!(result.data["target_type"], "all_in_area");
    assert_eq!(
        result.data["services"],
        json!(["light.turn_off", "switch.turn_off"])
    );
    assert_eq!(
        home.calls(),
        [
            (
                "light".to_owned(),
                "turn_off".to_owned(),
                json!({"entity_id": ["light.kitchen_ceiling", "light.kitchen_counter"]})
            ),
            (
                "switch".to_owned(),
                "turn_off".to_owned(),
                json!({"entity_id": ["switch.kitchen_fan"]})
            ),
        ],
        "the sensor in the kitchen is left alone"
    );
}

#[tokio::test]
async fn a_device_is_found_by_its_friendly_name() {
    let (url, home) = fake_home_assistant().await;
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let record = say(&harness, "Hey Hermes, turn on the sofa lamp").await;
    let result = result_of(&record, "homeassistant");
    assert_eq!(result.message.as_deref(), Some("I've turned on Sofa Lamp"));
    assert_eq!(result.data["entity_ids"], json!(["light.sofa_lamp"]));
    // A fan on a smart switch: the name wins over the type its word names.
    let record = say(&harness, "hey hermes toggle the kitchen fan").await;
    let result = result_of(&record, "homeassistant");
    assert_eq!(result.message.as_deref(), Some("I've toggled Kitchen Fan"));
    assert_eq!(
        home.calls()
            .iter()
            .map(|(domain, service, body)| format!("{domain}.{service} {}", body["entity_id"]))
            .collect::<Vec<_>>(),
        [
            "light.turn_on [\"light.sofa_lamp\"]",
            "switch.toggle [\"switch.kitchen_fan\"]"
        ]
    );
}

#[tokio::test]
async fn an_unknown_target_fails_listing_the_areas_and_the_chain_goes_on() {
    let (url, home) = fake_home_assistant().await;
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let record = say(&harness, "Hey Hermes, turn off the garage lights").await;
    let result = result_of(&record, "homeassistant");
    assert!(!result.success);
    assert!(result.should_continue);
    assert_eq!(
        result.message.as_deref(),
        Some(
            "Sorry, I couldn't find an area, label or device called 'garage'. Areas: Kitchen, \
             Living Room. Labels: hall."
        )
    );
    assert_eq!(
        record.outcome("test_event").expect("subscribed").status,
        Status::Executed
    );
    assert!(home.calls().is_empty());
    assert_eq!(
        home.template_count(AREAS_TEMPLATE),
        1,
        "a fresh cache is not read again on a miss"
    );

    for (said, reply) in [
        ("Hey Hermes", "No command provided"),
        (
            "Hey Hermes, what's the weather like?",
            "Sorry, I didn't understand \"what's the weather like\" as a Home Assistant command",
        ),
        (
            "Hey Hermes, turn off the lights",
            "Sorry, which ones? Name an area or a device. Areas: Kitchen, Living Room. Labels: \
             hall.",
        ),
    ] {
        let record = say(&harness, said).await;
        let result = result_of(&record, "homeassistant");
        assert_eq!(
            (result.success, result.message.as_deref()),
            (false, Some(reply)),
            "{said}"
        );
    }
}

#[tokio::test]
async fn the_cache_is_read_once_and_again_when_a_target_is_missing() {
    let (url, home) = fake_home_assistant().await;
    let harness = Harness::new(&plugins_yml(&url, "    refresh_on_miss_seconds: 0\n"), None).await;
    let (first, second, third) = tokio::join!(
        say(&harness, "Hey Hermes, turn off the kitchen lights"),
        say(&harness, "Hey Hermes, turn on the sofa lamp"),
        say(&harness, "Hey Hermes, toggle all the lights"),
    );
    for record in [first, second, third] {
        let result = result_of(&record, "homeassistant");
        assert!(result.success, "{result:?}");
    }
    assert_eq!(home.template_count(AREAS_TEMPLATE), 1);
    assert_eq!(home.template_count(LABELS_TEMPLATE), 1);
    assert_eq!(*home.states_reads.lock().expect("lock"), 1);

    home.garage.store(true, Ordering::SeqCst);
    let record = say(&harness, "Hey Hermes, turn on the garage lights").await;
    let result = result_of(&record, "homeassistant");
    assert_eq!(
        result.message.as_deref(),
        Some("I've turned on 1 light in garage"),
        "{result:?}"
    );
    assert_eq!(home.template_count(AREAS_TEMPLATE), 2);
    assert_eq!(
        home.calls().last().map(|(_, _, body)| body.clone()),
        Some(json!({"entity_id": ["light.garage"]}))
    );
}

#[tokio::test]
async fn another_plugin_toggles_the_lights_of_a_label() {
    let (url, home) = fake_home_assistant().await;
    let yml = format!(
        "plugins:
  test_button_actions:
    enabled: true
    events: [button.double_press]
    permissions: [call_plugin]
    actions:
      double_press: {{type: call_plugin, plugin_id: homeassistant, action: toggle_lights, data: {{target: hall}}}}
  homeassistant:
    enabled: true
    events: [transcript.streaming]
    ha_url: {url}
    ha_token: {TOKEN}
"
    );
    let harness = Harness::new(&yml, None).await;
    let record = harness
        .dispatch(Event::ButtonDoublePress, json!({"state": "DOUBLE_PRESS"}))
        .await;
    let result = result_of(&record, "test_button_actions");
    assert_eq!(
        result.message.as_deref(),
        Some("homeassistant: Called light.toggle on 1 light in hall"),
        "{result:?}"
    );
    assert_eq!(result.data["entity_ids"], json!(["light.sofa_lamp"]));
    assert_eq!(
        home.calls(),
        [(
            "light".to_owned(),
            "toggle".to_owned(),
            json!({"entity_id": ["light.sofa_lamp"]})
        )]
    );
}

#[tokio::test]
async fn plugin_actions_call_services_and_explain_what_they_cannot_do() {
    let (url, home) = fake_home_assistant().await;
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let act = |data: Value| harness.dispatch(Event::PluginAction, data);

    let record = act(json!({
        "action": "call_service", "service": "turn_on", "target_type": "area",
        "target": "Kitchen", "entity_type": "light", "data": {"brightness_pct": 70}
    }))
    .await;
    let result = result_of(&record, "homeassistant");
    assert_eq!(
        result.message.as_deref(),
        Some("Called light.turn_on on 2 lights in Kitchen")
    );
    assert!(result.should_continue);
    assert_eq!(
        home.calls()[0].2,
        json!({"entity_id": ["light.kitchen_ceiling", "light.kitchen_counter"], "brightness_pct": 70})
    );

    for (data, reply) in [
        (json!({"action": "dance"}), "Unknown action: dance"),
        (json!({"action": "toggle_lights"}), "No target specified"),
        (
            json!({"action": "toggle_lights", "target": "attic"}),
            "I couldn't find an area, label or device called 'attic'. Areas: Kitchen, Living \
             Room. Labels: hall.",
        ),
        (
            json!({"action": "call_service", "service": "dance", "target": "kitchen"}),
            "Home Assistant refused light.dance (400 Service light.dance not found.)",
        ),
        (
            json!({"action": "toggle_lights", "target": "kitchen", "service": 5}),
            "Invalid service: 5 (a string is expected)",
        ),
        (
            json!({"action": "toggle_lights", "target": "kitchen", "target_type": 3}),
            "Invalid target_type: 3 (a string is expected)",
        ),
        (
            json!({"action": "call_service", "target": "kitchen", "data": "x"}),
            "Invalid data: \"x\" (an object of service data is expected, e.g. \
             {\"brightness_pct\": 40})",
        ),
        (
            json!({"action": ["toggle_lights"], "target": "kitchen"}),
            "Invalid action: [\"toggle_lights\"] (a string is expected)",
        ),
        (
            json!({"action": "toggle_lights", "target": "kitchen", "service": "turn_on"}),
            "toggle_lights always toggles: use call_service for service turn_on",
        ),
    ] {
        let record = act(data.clone()).await;
        let result = result_of(&record, "homeassistant");
        assert_eq!(
            (result.success, result.message.as_deref()),
            (false, Some(reply)),
            "{data}"
        );
    }
    assert_eq!(home.calls().len(), 1);
}

#[tokio::test]
async fn a_button_press_runs_its_configured_action() {
    let (url, home) = fake_home_assistant().await;
    // The shipped config.yml's double press: toggle the lights of `hall`.
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let record = harness
        .dispatch(Event::ButtonDoublePress, json!({"state": "DOUBLE_PRESS"}))
        .await;
    let result = result_of(&record, "homeassistant");
    assert_eq!(
        result.message.as_deref(),
        Some("Button double_press: light.toggle on 1 light in hall"),
        "{result:?}"
    );
    assert_eq!(result.data["trigger"], "double_press");
    assert_eq!(home.calls()[0].1, "toggle");

    let record = harness
        .dispatch(Event::ButtonSinglePress, json!({"state": "SINGLE_PRESS"}))
        .await;
    assert_eq!(
        record.outcome("homeassistant").expect("subscribed").status,
        Status::Declined
    );

    let harness = Harness::new(
        &plugins_yml(
            &url,
            "    button_actions:\n      single_press: {service: turn_off, target_type: all, entity_type: null}\n",
        ),
        None,
    )
    .await;
    let record = harness.dispatch(Event::ButtonSinglePress, json!({})).await;
    let result = result_of(&record, "homeassistant");
    assert_eq!(
        result.message.as_deref(),
        Some("Button single_press: light.turn_off and switch.turn_off on 4 devices"),
        "{result:?}"
    );
}

#[tokio::test]
async fn without_labels_the_areas_still_work() {
    let (url, home) = fake_home_assistant().await;
    home.no_labels.store(true, Ordering::SeqCst);
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let record = say(&harness, "Hey Hermes, turn on the living room lights").await;
    let result = result_of(&record, "homeassistant");
    assert_eq!(
        result.message.as_deref(),
        Some("I've turned on 1 light in living room"),
        "{result:?}"
    );
    let record = harness
        .dispatch(
            Event::PluginAction,
            json!({"action": "toggle_lights", "target": "hall"}),
        )
        .await;
    assert_eq!(
        result_of(&record, "homeassistant").message.as_deref(),
        Some(
            "I couldn't find an area, label or device called 'hall'. Areas: Kitchen, Living \
             Room."
        )
    );
}

#[tokio::test]
async fn home_assistant_going_down_fails_the_call_as_unreachable() {
    let (url, home) = fake_home_assistant().await;
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    home.down.store(true, Ordering::SeqCst);
    let record = say(&harness, "Hey Hermes, turn off the kitchen lights").await;
    let outcome = record.outcome("homeassistant").expect("subscribed");
    assert_eq!(outcome.status, Status::Failed);
    assert_eq!(
        outcome.reason.as_deref(),
        Some("Home Assistant was not reached: answered 503 Service Unavailable")
    );
    assert_eq!(
        record.outcome("test_event").expect("subscribed").status,
        Status::Executed,
        "the chain goes on"
    );
    let report = harness.connection_report("homeassistant").await;
    assert!(!report.ok);
}

#[tokio::test]
async fn a_wrong_token_fails_initialize_and_the_connection_test_says_how_to_fix_it() {
    let (url, _home) = fake_home_assistant().await;
    let yml = plugins_yml(&url, "").replace(TOKEN, "wrong-token");
    let harness = Harness::new(&yml, None).await;
    let (status, error) = harness.status("homeassistant");
    assert_eq!(status, "failed");
    let error = error.unwrap_or_default();
    assert!(
        error.contains("refused the token (401)") && error.contains("long-lived access token"),
        "{error}"
    );
    let settings: Settings = json!({"ha_url": url, "ha_token": "wrong-token"})
        .as_object()
        .expect("object")
        .clone();
    let plugin =
        HomeAssistantPlugin::new(parse_settings(&settings).expect("settings")).expect("valid");
    let report = plugin.test_connection().await;
    assert!(!report.ok);
    let failed = report
        .checks
        .iter()
        .find(|check| !check.ok)
        .expect("a failed step");
    assert_eq!(failed.name, "POST /api/template (token)");
    assert!(
        failed
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("long-lived access token"),
        "{failed:?}"
    );
    assert!(!plugin.health_check().await.ok);
}

#[tokio::test]
async fn home_assistant_down_leaves_the_plugin_degraded() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let (status, error) = harness.status("homeassistant");
    assert_eq!(status, "degraded");
    assert!(
        error.unwrap_or_default().contains("cannot connect"),
        "says why"
    );
    let report = harness.connection_report("homeassistant").await;
    assert!(!report.ok);
    let failed = &report.checks[1];
    assert_eq!(failed.name, "POST /api/template (token)");
    assert!(
        failed
            .detail
            .starts_with("Home Assistant was not reached: cannot connect: "),
        "with the cause: {failed:?}"
    );
    assert!(
        failed
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("check ha_url")
    );
}

#[tokio::test]
async fn the_connection_test_counts_entities_and_areas() {
    let (url, _home) = fake_home_assistant().await;
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let report = harness.connection_report("homeassistant").await;
    assert!(report.ok, "{report:?}");
    let steps: Vec<(&str, &str)> = report
        .checks
        .iter()
        .map(|check| (check.name.as_str(), check.detail.as_str()))
        .collect();
    assert_eq!(
        steps[2],
        ("GET /api/states", "6 entities (3 lights, 1 switch)")
    );
    assert_eq!(
        steps[3],
        (
            "areas",
            "2 areas (Kitchen: 3 entities, Living Room: 1 entity), 1 label"
        )
    );
    assert_eq!(
        harness.status("homeassistant"),
        ("initialized".to_owned(), None)
    );
}

#[tokio::test]
async fn without_a_token_it_declines_and_says_what_to_set() {
    let harness = Harness::new(
        "plugins:\n  homeassistant:\n    enabled: true\n    events: [transcript.streaming]\n    \
         condition: {type: wake_word, wake_words: [hey hermes]}\n",
        None,
    )
    .await;
    assert_eq!(harness.status("homeassistant").0, "initialized");
    let record = say(&harness, "Hey Hermes, turn off the kitchen lights").await;
    assert_eq!(
        record.outcome("homeassistant").expect("subscribed").status,
        Status::Declined
    );
    let report = harness.connection_report("homeassistant").await;
    assert!(!report.ok);
    assert_eq!(report.checks[0].detail, "ha_token is not set");
    assert!(
        report.checks[0]
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("long-lived access token")
    );
    let plugin = HomeAssistantPlugin::new(Default::default()).expect("defaults");
    let health = plugin.health_check().await;
    assert!(!health.ok && health.message.starts_with("ha_token is not set"));
}

#[tokio::test]
async fn a_refused_domain_after_another_went_through_is_a_success_naming_it() {
    let (url, home) = fake_home_assistant().await;
    home.refuse_switches.store(true, Ordering::SeqCst);
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let record = say(&harness, "Hey Hermes, turn off everything in the kitchen").await;
    let result = result_of(&record, "homeassistant");
    assert!(
        result.success,
        "not retried, so the lights are not switched twice"
    );
    assert_eq!(
        result.message.as_deref(),
        Some(
            "I've turned off 2 lights in kitchen, but Home Assistant refused switch.turn_off \
             (400 Service switch.turn_off not found.)"
        )
    );
    assert!(!result.should_continue);
    assert_eq!(result.data["services"], json!(["light.turn_off"]));
    assert_eq!(
        result.data["entity_ids"],
        json!(["light.kitchen_ceiling", "light.kitchen_counter"])
    );

    let record = say(&harness, "Hey Hermes, toggle the kitchen fan").await;
    let result = result_of(&record, "homeassistant");
    assert_eq!(
        (result.success, result.message.as_deref()),
        (
            false,
            Some(
                "Sorry, Home Assistant refused switch.toggle (400 Service switch.toggle not \
                 found.)"
            )
        ),
        "nothing went through"
    );
}

#[tokio::test]
async fn a_slow_home_is_reported_in_time_and_its_read_serves_the_next_command() {
    let (url, home) = fake_home_assistant().await;
    home.areas_delay_ms.store(1500, Ordering::SeqCst);
    // Live events get 1 s here: the read started at initialize takes longer.
    let yml = plugins_yml(&url, "").replace("timeout: 15", "timeout: 1");
    let harness = Harness::new(&yml, None).await;
    assert_eq!(harness.status("homeassistant").0, "initialized");
    let started = Instant::now();
    let record = say(&harness, "Hey Hermes, turn off the kitchen lights").await;
    let outcome = record.outcome("homeassistant").expect("subscribed");
    assert_eq!(outcome.status, Status::Executed, "not cut off: {outcome:?}");
    let result = result_of(&record, "homeassistant");
    assert_eq!(
        (result.success, result.message.as_deref()),
        (false, Some(SLOW))
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(home.calls().is_empty());

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let record = say(&harness, "Hey Hermes, turn off the kitchen lights").await;
    let result = result_of(&record, "homeassistant");
    assert!(result.success, "{result:?}");
    assert_eq!(
        home.template_count(AREAS_TEMPLATE),
        1,
        "the read begun at initialize finished and was kept"
    );
    assert_eq!(home.calls().len(), 1);
}

/// Services that offer nothing: the handlers here need none.
struct NoServices;

#[async_trait]
impl Services for NoServices {
    async fn close_conversation(&self, _: &str, _: CloseReason) -> Result<bool, ServiceError> {
        Err(unavailable())
    }
    async fn star_conversation(&self, _: &str) -> Result<bool, ServiceError> {
        Err(unavailable())
    }
    async fn call_plugin(
        &self,
        _: &str,
        _: &str,
        _: JsonMap,
        _: Option<&str>,
    ) -> Result<Option<PluginResult>, ServiceError> {
        Err(unavailable())
    }
    async fn insert_one(&self, _: &str, _: JsonMap) -> Result<String, ServiceError> {
        Err(unavailable())
    }
    async fn find(&self, _: &str, _: &JsonMap) -> Result<Vec<JsonMap>, ServiceError> {
        Err(unavailable())
    }
    async fn find_one(&self, _: &str, _: &JsonMap) -> Result<Option<JsonMap>, ServiceError> {
        Err(unavailable())
    }
    async fn update_one(&self, _: &str, _: &JsonMap, _: &JsonMap) -> Result<bool, ServiceError> {
        Err(unavailable())
    }
    async fn delete_one(&self, _: &str, _: &JsonMap) -> Result<bool, ServiceError> {
        Err(unavailable())
    }
    async fn count(&self, _: &str, _: &JsonMap) -> Result<u64, ServiceError> {
        Err(unavailable())
    }
    async fn llm_generate(&self, _: &str) -> Result<String, ServiceError> {
        Err(unavailable())
    }
    async fn stop_playback(&self, _: &str, _: Option<&str>) -> Result<bool, ServiceError> {
        Err(unavailable())
    }
}

fn unavailable() -> ServiceError {
    ServiceError::Unavailable {
        service: "test",
        reason: "not offered".into(),
    }
}

#[tokio::test]
async fn a_retried_transcript_command_is_declined_not_run_again() {
    let (url, home) = fake_home_assistant().await;
    let settings: Settings = json!({"ha_url": url, "ha_token": TOKEN})
        .as_object()
        .expect("object")
        .clone();
    let plugin =
        HomeAssistantPlugin::new(parse_settings(&settings).expect("settings")).expect("valid");
    let context = |attempt| PluginContext {
        user_id: "u1".into(),
        event: Event::TranscriptBatch,
        data: Arc::new(crate::support::into_object(json!({
            "transcript": "hey hermes toggle the kitchen fan",
            "command": "toggle the kitchen fan",
        })))
        .into(),
        metadata: JsonMap::new(),
        services: Arc::new(NoServices),
        delivery: Delivery {
            event_id: "e1".into(),
            plugin_id: "homeassistant".into(),
            attempt,
            deadline: std::time::SystemTime::now() + Duration::from_secs(30),
        },
    };
    let retried = plugin.on_transcript(&mut context(2)).await;
    assert!(matches!(retried, Ok(None)), "declined: {retried:?}");
    assert!(home.calls().is_empty(), "the toggle is not repeated");
    let first = plugin.on_transcript(&mut context(1)).await;
    let result = first.expect("runs").expect("a result");
    assert_eq!(result.message.as_deref(), Some("I've toggled Kitchen Fan"));
    assert_eq!(home.calls().len(), 1);
}

#[track_caller]
fn settings_error(settings: Value) -> (Option<String>, String) {
    let settings: Settings = settings.as_object().expect("object").clone();
    match (DESCRIPTOR.build)(&settings) {
        Ok(_) => panic!("{settings:?} must be refused"),
        Err(error) => (error.key, error.message),
    }
}

#[test]
fn settings_are_checked_and_name_the_key() {
    let key = |settings| settings_error(settings).0;
    assert_eq!(key(json!({"ha_url": "ftp://ha"})), Some("ha_url".into()));
    assert_eq!(key(json!({"ha_url": "not a url"})), Some("ha_url".into()));
    assert_eq!(
        key(json!({"timeout_seconds": 0})),
        Some("timeout_seconds".into())
    );
    assert_eq!(
        key(json!({"button_actions": {"double_press": {"target": " "}}})),
        Some("button_actions.double_press.target".into())
    );
    assert_eq!(
        key(json!({"button_actions": {"double_press": {"target": "x", "target_type": "room"}}})),
        Some("button_actions.double_press.target_type".into())
    );
    assert_eq!(
        key(
            json!({"button_actions": {"double_press": {"target": "x", "service": "light.toggle"}}})
        ),
        Some("button_actions.double_press.service".into())
    );
    assert_eq!(
        key(json!({"ha_token": "abc\ndef"})),
        Some("ha_token".into()),
        "a header cannot carry it"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.pem");
    let (key_name, message) = settings_error(json!({"ha_ca_file": missing}));
    assert_eq!(key_name.as_deref(), Some("ha_ca_file"));
    assert!(message.starts_with("cannot read"), "{message}");
    let not_pem = dir.path().join("notes.txt");
    std::fs::write(&not_pem, "not a certificate\n").expect("write");
    let (key_name, message) = settings_error(json!({"ha_ca_file": not_pem}));
    assert_eq!(key_name.as_deref(), Some("ha_ca_file"));
    assert!(message.contains("holds no"), "{message}");
    let (_, message) = settings_error(json!({"button_actions": {"triple_press": {"target": "x"}}}));
    assert!(
        message.contains("unknown field `triple_press`"),
        "{message}"
    );
    // The original's keys, as its shipped config.yml expanded them.
    let settings: Settings = json!({
        "ha_url": "http://ha.local:8123", "ha_token": "t", "wake_word": "hermes",
        "timeout_seconds": 30,
        "button_actions": {"double_press": {"service": "toggle", "target_type": "area",
                                            "target": "hall", "entity_type": "light"}},
    })
    .as_object()
    .expect("object")
    .clone();
    assert!((DESCRIPTOR.build)(&settings).is_ok());
}

/// The home of the parser tests: the fake's, plus a hallway area named differently from its id.
fn home() -> Snapshot {
    let area = |id: &str, name: &str, entities: &[&str]| Area {
        id: id.into(),
        name: Some(name.into()),
        entity_ids: entities.iter().map(|id| (*id).to_owned()).collect(),
    };
    let entity = |id: &str, name: &str| (id.to_owned(), Some(name.to_owned()));
    Snapshot {
        areas: vec![
            area(
                "kitchen",
                "Kitchen",
                &[
                    "light.kitchen_ceiling",
                    "light.kitchen_counter",
                    "switch.kitchen_fan",
                ],
            ),
            area(
                "living_room",
                "Living Room",
                &["light.sofa_lamp", "cover.living_blinds"],
            ),
            area("area_7", "Hallway", &["light.hallway"]),
        ],
        labels: vec![Label {
            id: "downstairs".into(),
            area_ids: vec!["kitchen".into(), "living_room".into()],
        }],
        entities: vec![
            entity("light.kitchen_ceiling", "Kitchen Ceiling"),
            entity("light.kitchen_counter", "Kitchen Counter"),
            entity("switch.kitchen_fan", "Kitchen Fan"),
            entity("light.sofa_lamp", "Sofa Lamp"),
            entity("cover.living_blinds", "Living Room Blinds"),
            entity("light.hallway", "Hallway"),
            entity("light.desk", "Desk"),
        ],
        fetched_at: Instant::now(),
    }
}

#[track_caller]
fn check(said: &str, expected: Option<(&str, TargetType, &str, Option<&str>)>) {
    let parsed = parse_keywords(said, &home());
    let got = parsed.as_ref().map(|command| {
        (
            command.action.name(),
            command.target_type,
            command.target.as_str(),
            command.entity_type.as_deref(),
        )
    });
    assert_eq!(got, expected, "{said:?} → {parsed:?}");
}

#[test]
fn the_keyword_parser_reads_whole_words() {
    use TargetType::{All, AllInArea, Area, Entity};
    check(
        "turn off the kitchen lights",
        Some(("turn_off", Area, "kitchen", Some("light"))),
    );
    check(
        "Turn the kitchen lights off.",
        Some(("turn_off", Area, "kitchen", Some("light"))),
    );
    check(
        "switch off the kitchen",
        Some(("turn_off", Area, "kitchen", Some("light"))),
    );
    check(
        "switch on the living room lamp",
        Some(("turn_on", Area, "living_room", Some("light"))),
    );
    check(
        "turn on the lights in the hallway",
        Some(("turn_on", Area, "area_7", Some("light"))),
    );
    check(
        "enable the downstairs lights",
        Some(("turn_on", Area, "downstairs", Some("light"))),
    );
    check(
        "close the living room blinds",
        Some(("turn_off", Area, "living_room", Some("cover"))),
    );
    check(
        "open the curtains in the living room",
        Some(("turn_on", Area, "living_room", Some("cover"))),
    );
    check(
        "shut off the kitchen switches",
        Some(("turn_off", Area, "kitchen", Some("switch"))),
    );
    check(
        "toggle the kitchen fan",
        Some(("toggle", Entity, "Kitchen Fan", Some("switch"))),
    );
    check(
        "turn off the kitchen ceiling light",
        Some(("turn_off", Entity, "Kitchen Ceiling", Some("light"))),
    );
    check(
        "turn on the sofa lamp please",
        Some(("turn_on", Entity, "Sofa Lamp", Some("light"))),
    );
    check(
        "turn off everything in the kitchen",
        Some(("turn_off", AllInArea, "kitchen", None)),
    );
    check(
        "turn off all the lights",
        Some(("turn_off", All, "", Some("light"))),
    );
    check(
        "turn off every fan",
        Some(("turn_off", All, "", Some("fan"))),
    );
    check("turn everything off", Some(("turn_off", All, "", None)));
    check(
        "set the kitchen lights to 40%",
        Some(("set_brightness", Area, "kitchen", Some("light"))),
    );
    check(
        "dim the living room to 20 percent",
        Some(("set_brightness", Area, "living_room", Some("light"))),
    );
    check(
        "make the kitchen lights red",
        Some(("set_color", Area, "kitchen", Some("light"))),
    );
    check(
        "turn on the porch light",
        Some(("turn_on", Entity, "porch", Some("light"))),
    );
    check(
        "turn on the desk",
        Some(("turn_on", Entity, "Desk", Some("light"))),
    );
    check(
        "turn on lamp 2",
        Some(("turn_on", Entity, "2", Some("light"))),
    );
    check(
        "set the porch lamp to 30 percent",
        Some(("set_brightness", Entity, "porch", Some("light"))),
    );
    check(
        "disable the garage heater",
        Some(("turn_off", Entity, "garage heater", None)),
    );
    // The original found "on" inside "only", "moon", "conversation", "Monday"; a lone "on" or
    // "off" needs a type, a place or a device to be a command.
    check("tell me only about the moon", None);
    check("the conversation on monday", None);
    check("we left off at chapter two", None);
    check(
        "kitchen lights off",
        Some(("turn_off", Area, "kitchen", Some("light"))),
    );
    check(
        "sofa lamp on",
        Some(("turn_on", Entity, "Sofa Lamp", Some("light"))),
    );
    check("desk on", Some(("turn_on", Entity, "Desk", Some("light"))));
    check("the sofa on", Some(("turn_on", Entity, "sofa", None)));
    check("what's the weather", None);
    check("", None);
    let brightness = parse_keywords("set the kitchen lights to 40%", &home()).map(|c| c.action);
    assert_eq!(brightness, Some(Action::SetBrightness(40)));
    let color = parse_keywords("make the kitchen lights red", &home()).map(|c| c.action);
    assert_eq!(color, Some(Action::SetColor("red".into())));
}

#[test]
fn targets_resolve_by_area_label_and_name() {
    let home = home();
    let ids = |target_type, target: &str, kind: Option<&str>| {
        home.resolve(target_type, target, kind)
            .map(|resolved| resolved.entity_ids)
    };
    assert_eq!(
        ids(TargetType::Area, "Living Room", Some("light")),
        Ok(vec!["light.sofa_lamp".to_owned()])
    );
    assert_eq!(
        ids(TargetType::Area, "downstairs", Some("light")),
        Ok(vec![
            "light.kitchen_ceiling".to_owned(),
            "light.kitchen_counter".to_owned(),
            "light.sofa_lamp".to_owned()
        ])
    );
    assert_eq!(
        ids(TargetType::Area, "kitchen", Some("fan")),
        Err(
            "There are no fans in kitchen; it has light.kitchen_ceiling, light.kitchen_counter, \
             switch.kitchen_fan."
                .to_owned()
        )
    );
    assert_eq!(
        ids(TargetType::Area, "sofa lamp", Some("light")),
        Ok(vec!["light.sofa_lamp".to_owned()]),
        "a device named as an area"
    );
    assert_eq!(
        ids(TargetType::Entity, "sofa", None),
        Ok(vec!["light.sofa_lamp".to_owned()])
    );
    assert_eq!(
        ids(TargetType::Entity, "light.desk", None),
        Ok(vec!["light.desk".to_owned()])
    );
    assert_eq!(
        ids(TargetType::Entity, "desk", Some("light")),
        Ok(vec!["light.desk".to_owned()])
    );
    assert_eq!(
        ids(TargetType::Entity, "kitchen fan", Some("fan")),
        Ok(vec!["switch.kitchen_fan".to_owned()]),
        "a name of another type when none of the type matches"
    );
    assert_eq!(
        ids(TargetType::All, "", Some("cover")),
        Ok(vec!["cover.living_blinds".to_owned()])
    );
}

#[test]
fn the_model_answer_is_read_strictly() {
    let command = |action, target_type, target: &str, kind: Option<&str>| {
        Ok(LlmVerdict::Command(Command {
            action,
            target_type,
            target: target.into(),
            entity_type: kind.map(str::to_owned),
        }))
    };
    assert_eq!(
        parse_llm_answer(
            "```json\n{\"action\": \"turn_off\", \"target_type\": \"area\", \"target\": \"kitchen\", \"entity_type\": \"light\", \"parameters\": {}}\n```"
        ),
        command(Action::TurnOff, TargetType::Area, "kitchen", Some("light"))
    );
    assert_eq!(
        parse_llm_answer(
            "{\"action\": \"set_color\", \"target_type\": \"entity\", \"target\": \"Sofa Lamp\", \"entity_type\": null, \"parameters\": {\"color\": \"Blue\"}}"
        ),
        command(
            Action::SetColor("blue".into()),
            TargetType::Entity,
            "Sofa Lamp",
            None
        )
    );
    assert_eq!(
        parse_llm_answer(
            "{\"action\": \"set_brightness\", \"target_type\": \"all\", \"target\": \"all\", \"entity_type\": \"lights\", \"parameters\": {\"brightness_pct\": \"140%\"}}"
        ),
        command(
            Action::SetBrightness(100),
            TargetType::All,
            "all",
            Some("light")
        )
    );
    assert_eq!(
        parse_llm_answer("{\"action\": null}"),
        Ok(LlmVerdict::NotACommand)
    );
    for garbage in [
        "I'd turn them off",
        "{\"action\": \"explode\", \"target_type\": \"area\", \"target\": \"kitchen\"}",
        "{\"action\": \"turn_on\", \"target_type\": \"room\", \"target\": \"kitchen\"}",
        "{\"action\": \"turn_on\", \"target_type\": \"area\"}",
        "{\"action\": \"set_brightness\", \"target_type\": \"area\", \"target\": \"kitchen\"}",
        "} {",
    ] {
        assert!(parse_llm_answer(garbage).is_err(), "{garbage}");
    }
}

#[tokio::test]
async fn a_slow_model_is_abandoned_for_the_keywords() {
    struct Slow;
    #[async_trait]
    impl LanguageModel for Slow {
        async fn generate(&self, _prompt: &str) -> Result<String, BackendError> {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(String::new())
        }
    }
    let (url, home) = fake_home_assistant().await;
    let yml = plugins_yml(
        &url,
        "    permissions: [llm]\n    llm_timeout_seconds: 0.3\n",
    );
    let harness = Harness::with_llm(&yml, Arc::new(Slow)).await;
    let started = Instant::now();
    let record = say(&harness, "Hey Hermes, turn off the kitchen lights").await;
    let result = result_of(&record, "homeassistant");
    assert!(result.success, "{result:?}");
    assert_eq!(result.data["parser"], "keywords");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(home.calls().len(), 1);
}

/// A Home Assistant on `https://127.0.0.1:<port>` whose certificate a test authority signed,
/// answering `2` to every request (enough for the ping).
fn https_home_assistant(ca: &TestCa) -> String {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::io::{Read, Write};

    crate::support::install_crypto_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![ca.cert_der.clone().into()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca.key_der.clone())),
        )
        .expect("server config");
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(mut connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::Stream::new(&mut connection, &mut tcp);
                let mut request = Vec::new();
                let mut buffer = [0_u8; 4096];
                // The head, then as much body as it announces.
                loop {
                    match tls.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|line| line.strip_prefix("content-length:"))
                            .and_then(|value| value.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1\r\n\
                      connection: close\r\n\r\n2",
                );
                let _ = tls.flush();
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[tokio::test]
async fn an_untrusted_certificate_fails_initialize_and_ha_ca_file_trusts_it() {
    let ca = TestCa::new();
    let url = https_home_assistant(&ca);
    let ca_file = &ca.ca_file;
    let harness = Harness::new(&plugins_yml(&url, ""), None).await;
    let (status, error) = harness.status("homeassistant");
    assert_eq!(status, "failed", "not retried as an outage: {error:?}");
    let error = error.unwrap_or_default();
    assert!(
        error.starts_with(
            "Home Assistant's certificate is not trusted: use the URL with its real host name, \
             or add its CA with `ha_ca_file`"
        ),
        "{error}"
    );

    let yml = plugins_yml(&url, &format!("    ha_ca_file: {}\n", ca_file.display()));
    let harness = Harness::new(&yml, None).await;
    assert_eq!(
        harness.status("homeassistant"),
        ("initialized".to_owned(), None)
    );
}
