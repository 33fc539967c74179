//! Spoken commands to structured ones: the language model's answer when one is configured, the
//! keyword parser otherwise (or when the model fails).

use chronicle_plugin_api::JsonMap;
use serde::Deserialize;
use serde_json::Value;

use super::config::TargetType;
use super::home::{SWITCHABLE, Snapshot, domain_of, match_key};

/// What to do to the targets.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `turn_on`.
    TurnOn,
    /// `turn_off`.
    TurnOff,
    /// `toggle`.
    Toggle,
    /// `turn_on` with `brightness_pct`.
    SetBrightness(u8),
    /// `turn_on` with `color_name`.
    SetColor(String),
}

impl Action {
    /// The action's name in results and in the model's answers.
    pub fn name(&self) -> &'static str {
        match self {
            Action::TurnOn => "turn_on",
            Action::TurnOff => "turn_off",
            Action::Toggle => "toggle",
            Action::SetBrightness(_) => "set_brightness",
            Action::SetColor(_) => "set_color",
        }
    }

    /// The Home Assistant service it calls.
    pub fn service(&self) -> &'static str {
        match self {
            Action::TurnOff => "turn_off",
            Action::Toggle => "toggle",
            Action::TurnOn | Action::SetBrightness(_) | Action::SetColor(_) => "turn_on",
        }
    }

    /// The service data it adds (for lights).
    pub fn parameters(&self) -> JsonMap {
        let mut parameters = JsonMap::new();
        match self {
            Action::SetBrightness(percent) => {
                parameters.insert("brightness_pct".into(), Value::from(*percent));
            }
            Action::SetColor(color) => {
                parameters.insert("color_name".into(), Value::from(color.as_str()));
            }
            Action::TurnOn | Action::TurnOff | Action::Toggle => {}
        }
        parameters
    }

    /// "turned off", "set … to 40%": the words around the targets in a reply.
    pub fn reply(&self, targets: &str) -> String {
        match self {
            Action::TurnOn => format!("I've turned on {targets}"),
            Action::TurnOff => format!("I've turned off {targets}"),
            Action::Toggle => format!("I've toggled {targets}"),
            Action::SetBrightness(percent) => format!("I've set {targets} to {percent}%"),
            Action::SetColor(color) => format!("I've made {targets} {color}"),
        }
    }
}

/// A command: an action on a target.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// What to do.
    pub action: Action,
    /// How `target` is read.
    pub target_type: TargetType,
    /// An area or label, an entity's name, or nothing (`all`).
    pub target: String,
    /// The domain the targets are filtered by; `None`: any switchable one.
    pub entity_type: Option<String>,
}

/// Which parser understood a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parser {
    /// The language model.
    Llm,
    /// [`parse_keywords`].
    Keywords,
}

impl Parser {
    /// Its name in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Parser::Llm => "llm",
            Parser::Keywords => "keywords",
        }
    }
}

/// Words a command is made of that name neither a target nor a type.
const FILLER: &[&str] = &[
    "a",
    "an",
    "the",
    "please",
    "in",
    "on",
    "off",
    "at",
    "to",
    "of",
    "my",
    "our",
    "for",
    "me",
    "can",
    "could",
    "would",
    "will",
    "you",
    "now",
    "and",
    "it",
    "them",
    "all",
    "every",
    "everything",
    "everywhere",
    "turn",
    "switch",
    "shut",
    "power",
    "toggle",
    "enable",
    "disable",
    "activate",
    "deactivate",
    "open",
    "close",
    "set",
    "dim",
    "brighten",
    "make",
    "change",
    "brightness",
    "color",
    "colour",
    "percent",
    "%",
    "up",
    "down",
    "room",
    "house",
    "home",
    "whole",
];

/// Colours a light can be set to by name (CSS names Home Assistant accepts).
const COLORS: &[&str] = &[
    "red",
    "green",
    "blue",
    "yellow",
    "orange",
    "purple",
    "pink",
    "white",
    "cyan",
    "magenta",
    "violet",
    "turquoise",
    "gold",
    "lime",
    "teal",
];

/// The entity type a word names.
fn entity_type_of(word: &str) -> Option<&'static str> {
    Some(match word {
        "light" | "lights" | "lamp" | "lamps" | "lighting" => "light",
        "switch" | "switches" | "plug" | "plugs" | "socket" | "sockets" => "switch",
        "fan" | "fans" => "fan",
        "blind" | "blinds" | "cover" | "covers" | "curtain" | "curtains" | "shade" | "shades"
        | "shutter" | "shutters" => "cover",
        _ => return None,
    })
}

/// The words of a command: lowercase, punctuation as spaces, `%` a word of its own.
pub fn words(text: &str) -> Vec<String> {
    let mut spaced = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if c == '%' {
            spaced.push_str(" % ");
        } else if c.is_alphanumeric() {
            spaced.extend(c.to_lowercase());
        } else if c != '\'' && c != '’' {
            spaced.push(' ');
        }
    }
    spaced.split_whitespace().map(str::to_owned).collect()
}

/// Whether `phrase` occurs in `words` as consecutive words, and where.
fn find_phrase(words: &[String], phrase: &[&str]) -> Option<usize> {
    if phrase.is_empty() || phrase.len() > words.len() {
        return None;
    }
    words
        .windows(phrase.len())
        .position(|window| window.iter().zip(phrase).all(|(word, want)| word == want))
}

/// The action a command asks for, on whole words: "turn off" before a lone "on" elsewhere.
/// `true` with it when only a lone "on" or "off" asked for it, which alone does not make a
/// command ("the conversation on monday").
fn action_of(words: &[String]) -> Option<(Action, bool)> {
    let has = |phrase: &[&str]| find_phrase(words, phrase).is_some();
    let off_phrases: [&[&str]; 4] = [
        &["turn", "off"],
        &["switch", "off"],
        &["shut", "off"],
        &["power", "off"],
    ];
    let on_phrases: [&[&str]; 3] = [&["turn", "on"], &["switch", "on"], &["power", "on"]];
    if off_phrases.iter().any(|phrase| has(phrase)) {
        return Some((Action::TurnOff, false));
    }
    if on_phrases.iter().any(|phrase| has(phrase)) {
        return Some((Action::TurnOn, false));
    }
    if has(&["toggle"]) {
        return Some((Action::Toggle, false));
    }
    words.iter().find_map(|word| match word.as_str() {
        "disable" | "deactivate" | "close" => Some((Action::TurnOff, false)),
        "enable" | "activate" | "open" => Some((Action::TurnOn, false)),
        "off" => Some((Action::TurnOff, true)),
        "on" => Some((Action::TurnOn, true)),
        _ => None,
    })
}

/// A brightness in the command: "40%", "40 percent", or a number after "dim"/"set … to".
fn brightness_of(words: &[String]) -> Option<u8> {
    let number_at = |index: usize| {
        words
            .get(index)
            .and_then(|word| word.parse::<u32>().ok())
            .map(|n| n.min(100) as u8)
    };
    for (index, word) in words.iter().enumerate() {
        if (word == "%" || word == "percent")
            && index > 0
            && let Some(percent) = number_at(index - 1)
        {
            return Some(percent);
        }
    }
    let dims = ["dim", "brighten", "brightness", "set"]
        .iter()
        .any(|verb| words.iter().any(|word| word == verb));
    if dims {
        return (0..words.len()).find_map(number_at);
    }
    None
}

/// A colour asked for with "set/make/change/turn … <colour>".
fn color_of(words: &[String], action: Option<&Action>) -> Option<String> {
    let color = words.iter().find(|word| COLORS.contains(&word.as_str()))?;
    let asks = ["set", "make", "change", "color", "colour"]
        .iter()
        .any(|verb| words.iter().any(|word| word == verb));
    (asks || (action.is_none() && words.iter().any(|word| word == "turn"))).then(|| color.clone())
}

/// The words naming an entity type, with the type. "switch" first or before on/off is a verb.
fn entity_type_in(words: &[String]) -> Option<(usize, &'static str)> {
    words.iter().enumerate().find_map(|(index, word)| {
        let verb = word == "switch"
            && (index == 0
                || matches!(words.get(index + 1).map(String::as_str), Some("on" | "off")));
        if verb {
            return None;
        }
        entity_type_of(word).map(|kind| (index, kind))
    })
}

/// The longest area or label named in `words` (as id, with `_` as space, or as name), with the
/// number of words it took.
fn place_in(words: &[String], snapshot: &Snapshot) -> Option<(String, Vec<String>)> {
    let mut phrases: Vec<(String, Vec<String>)> = Vec::new();
    for area in &snapshot.areas {
        phrases.push((area.id.clone(), split_key(&area.id)));
        if let Some(name) = &area.name {
            phrases.push((area.id.clone(), split_key(name)));
        }
    }
    for label in &snapshot.labels {
        if snapshot.area(&label.id).is_none() {
            phrases.push((label.id.clone(), split_key(&label.id)));
        }
    }
    phrases
        .into_iter()
        .filter(|(_, phrase)| {
            let phrase: Vec<&str> = phrase.iter().map(String::as_str).collect();
            find_phrase(words, &phrase).is_some()
        })
        .max_by_key(|(_, phrase)| phrase.len())
}

fn split_key(text: &str) -> Vec<String> {
    match_key(text)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The switchable entity whose friendly name's words all occur in the command, and which says
/// more than the place and type already did ("kitchen ceiling light" is the entity Kitchen
/// Ceiling, "kitchen lights" is the area; "kitchen fan" is the switch Kitchen Fan, a fan word
/// naming a switch): the one with the longest name, with its entity id.
fn entity_in(words: &[String], snapshot: &Snapshot, said: &[String]) -> Option<(String, String)> {
    snapshot
        .entities
        .iter()
        .filter(|(id, _)| SWITCHABLE.contains(&domain_of(id)))
        .filter_map(|(id, name)| {
            let name = name.as_deref()?;
            let name_words = split_key(name);
            let all_said =
                !name_words.is_empty() && name_words.iter().all(|word| words.contains(word));
            let more = name_words.iter().any(|word| {
                !said.contains(word)
                    && !FILLER.contains(&word.as_str())
                    && entity_type_of(word).is_none_or(|kind| kind != domain_of(id))
            });
            (all_said && more).then_some((name_words.len(), id, name))
        })
        .max_by_key(|(count, _, _)| *count)
        .map(|(_, id, name)| (id.clone(), name.to_owned()))
}

/// Understands a command from its words, with the areas, labels and names of `snapshot`.
/// `None` when it asks for nothing the parser knows.
///
/// - action: "turn off", "switch off", "shut off", "off", "disable", "close" → turn_off;
///   "turn on", "switch on", "on", "enable", "open" → turn_on; "toggle"; "40%" / "40 percent" /
///   "dim … 40" → set_brightness; "make/set … red" → set_color; a lone "on" or "off" only
///   with a type, an area or label, "all", or a device's name ("the conversation on monday"
///   is no command);
/// - type: light(s)/lamp(s), switch(es)/plug(s), fan(s), blind(s)/cover(s)/curtain(s)/
///   shade(s)/shutter(s);
/// - target: a device whose whole name is said, else an area or label (with "everything": all
///   in the area; without a type: its lights), else "all/every/everything" (all of the type,
///   everything: every switchable device), else the remaining words as a device's name.
pub fn parse_keywords(command: &str, snapshot: &Snapshot) -> Option<Command> {
    let words = words(command);
    let (mut action, mut lone) = action_of(&words).unzip();
    if action != Some(Action::TurnOff) {
        if let Some(percent) = brightness_of(&words) {
            (action, lone) = (Some(Action::SetBrightness(percent)), None);
        } else if let Some(color) = color_of(&words, action.as_ref()) {
            (action, lone) = (Some(Action::SetColor(color)), None);
        }
    }
    let action = action?;
    let lone = lone.unwrap_or(false);
    let typed = entity_type_in(&words);
    let entity_type = typed.map(|(_, kind)| kind.to_owned());
    let everything = words
        .iter()
        .any(|word| word == "everything" || word == "everywhere");
    let all = everything || words.iter().any(|word| word == "all" || word == "every");
    let place = place_in(&words, snapshot);
    let said: Vec<String> = place
        .as_ref()
        .map(|(_, phrase)| phrase.clone())
        .unwrap_or_default();

    if !all && let Some((id, name)) = entity_in(&words, snapshot, &said) {
        return Some(Command {
            action,
            target_type: TargetType::Entity,
            target: name,
            entity_type: Some(domain_of(&id).to_owned()),
        });
    }
    if let Some((area, _)) = place {
        let (target_type, entity_type) = match entity_type {
            Some(kind) => (TargetType::Area, Some(kind)),
            None if all => (TargetType::AllInArea, None),
            None => (TargetType::Area, Some("light".to_owned())),
        };
        return Some(Command {
            action,
            target_type,
            target: area,
            entity_type,
        });
    }
    if all {
        let entity_type = entity_type.or_else(|| (!everything).then(|| "light".to_owned()));
        return Some(Command {
            action,
            target_type: TargetType::All,
            target: String::new(),
            entity_type,
        });
    }
    // What the action took ("40", "red") is not part of the name; other numbers may be.
    let (brightness, color) = match &action {
        Action::SetBrightness(_) => (true, None),
        Action::SetColor(color) => (false, Some(color.as_str())),
        _ => (false, None),
    };
    let name: Vec<&str> = words
        .iter()
        .enumerate()
        .filter(|(index, word)| {
            Some(*index) != typed.map(|(at, _)| at)
                && entity_type_of(word).is_none()
                && !FILLER.contains(&word.as_str())
                && !(brightness && word.parse::<u32>().is_ok())
                && Some(word.as_str()) != color
        })
        .map(|(_, word)| word.as_str())
        .collect();
    let target = name.join(" ");
    // A lone "on"/"off" with neither a type nor a known device is how people talk.
    if lone && entity_type.is_none() && snapshot.resolve(TargetType::Entity, &target, None).is_err()
    {
        return None;
    }
    Some(Command {
        action,
        target_type: TargetType::Entity,
        target,
        entity_type,
    })
}

/// The prompt asking the model to structure `command`, listing what the home has.
pub fn llm_prompt(command: &str, snapshot: &Snapshot) -> String {
    let areas: Vec<String> = snapshot
        .areas
        .iter()
        .map(|area| match &area.name {
            Some(name) => format!("{} ({name})", area.id),
            None => area.id.clone(),
        })
        .collect();
    let labels: Vec<&str> = snapshot
        .labels
        .iter()
        .map(|label| label.id.as_str())
        .collect();
    let devices: Vec<&str> = snapshot
        .entities
        .iter()
        .filter(|(id, _)| SWITCHABLE.contains(&domain_of(id)))
        .filter_map(|(_, name)| name.as_deref())
        .take(200)
        .collect();
    let or_none = |list: Vec<String>| {
        if list.is_empty() {
            "(none)".to_owned()
        } else {
            list.join(", ")
        }
    };
    format!(
        "You turn spoken smart-home commands into JSON for Home Assistant.\n\
         Answer with one JSON object and nothing else, no prose and no code fences:\n\
         {{\"action\": \"turn_on|turn_off|toggle|set_brightness|set_color\", \
         \"target_type\": \"area|all|all_in_area|entity\", \"target\": \"...\", \
         \"entity_type\": \"light|switch|fan|cover|null\", \"parameters\": {{}}}}\n\
         - target_type \"area\": the devices of entity_type in one area or label; target is its \
         id from the lists below.\n\
         - \"all_in_area\": every device of an area, whatever its type (entity_type null).\n\
         - \"all\": every device of entity_type in the home (target \"all\").\n\
         - \"entity\": one device; target is its name from the device list.\n\
         - set_brightness: parameters {{\"brightness_pct\": 0-100}}. set_color: parameters \
         {{\"color\": \"<a CSS colour name>\"}}.\n\
         - \"lights\", \"lamps\" mean entity_type light; \"blinds\", \"curtains\" mean cover.\n\
         - If it is not a command for these devices, answer {{\"action\": null}}.\n\
         Areas (id (name)): {}\n\
         Labels (groups of areas): {}\n\
         Devices: {}\n\
         Command: {command}",
        or_none(areas),
        or_none(labels.iter().map(|label| (*label).to_owned()).collect()),
        or_none(devices.iter().map(|name| (*name).to_owned()).collect()),
    )
}

/// The model's answer, as sent.
#[derive(Debug, Deserialize)]
struct Answer {
    action: Option<String>,
    #[serde(default)]
    target_type: Option<String>,
    #[serde(default)]
    target: Option<Value>,
    #[serde(default)]
    entity_type: Option<String>,
    #[serde(default)]
    parameters: Option<JsonMap>,
}

/// What the model made of a command.
#[derive(Clone, Debug, PartialEq)]
pub enum LlmVerdict {
    /// A command to run.
    Command(Command),
    /// The model says it is not a command for the home.
    NotACommand,
}

/// Reads the model's answer: JSON, possibly in a code fence or with words around it. `Err`
/// says what is wrong with it.
pub fn parse_llm_answer(text: &str) -> Result<LlmVerdict, String> {
    let start = text.find('{').ok_or("no JSON object in the answer")?;
    let end = text.rfind('}').ok_or("no JSON object in the answer")?;
    if end < start {
        return Err("no JSON object in the answer".into());
    }
    let answer: Answer = serde_json::from_str(&text[start..=end])
        .map_err(|error| format!("the answer is not the JSON asked for ({error})"))?;
    let Some(action) = answer.action.filter(|action| !action.is_empty()) else {
        return Ok(LlmVerdict::NotACommand);
    };
    let parameters = answer.parameters.unwrap_or_default();
    let action = match action.as_str() {
        "turn_on" => Action::TurnOn,
        "turn_off" => Action::TurnOff,
        "toggle" => Action::Toggle,
        "set_brightness" => {
            let percent = ["brightness_pct", "brightness"]
                .iter()
                .find_map(|key| parameters.get(*key).and_then(number))
                .ok_or("set_brightness without a brightness_pct")?;
            Action::SetBrightness(percent.clamp(0.0, 100.0).round() as u8)
        }
        "set_color" => {
            let color = ["color", "color_name", "colour"]
                .iter()
                .find_map(|key| parameters.get(*key).and_then(Value::as_str))
                .map(|color| color.trim().to_lowercase())
                .filter(|color| !color.is_empty())
                .ok_or("set_color without a color")?;
            Action::SetColor(color)
        }
        other => return Err(format!("unknown action `{other}`")),
    };
    let target_type = answer.target_type.as_deref().unwrap_or("entity");
    let target_type = TargetType::parse(target_type)
        .ok_or_else(|| format!("unknown target_type `{target_type}`"))?;
    let target = match answer.target {
        Some(Value::String(target)) => target.trim().to_owned(),
        None | Some(Value::Null) => String::new(),
        Some(other) => return Err(format!("target is not a string: {other}")),
    };
    if target.is_empty() && target_type != TargetType::All {
        return Err(format!(
            "no target for target_type {}",
            target_type.as_str()
        ));
    }
    let entity_type = match answer.entity_type.as_deref().map(str::trim) {
        None | Some("" | "null" | "none" | "any") => None,
        Some(kind) => Some(
            entity_type_of(kind)
                .ok_or_else(|| format!("unknown entity_type `{kind}`"))?
                .to_owned(),
        ),
    };
    let entity_type = match target_type {
        TargetType::AllInArea => None,
        TargetType::Area | TargetType::All => entity_type.or_else(|| Some("light".to_owned())),
        TargetType::Entity => entity_type,
    };
    Ok(LlmVerdict::Command(Command {
        action,
        target_type,
        target,
        entity_type,
    }))
}

/// A JSON number, or a number written as a string ("40", "40%").
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().trim_end_matches('%').trim().parse().ok(),
        _ => None,
    }
}
