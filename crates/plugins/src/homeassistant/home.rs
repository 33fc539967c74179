//! What the plugin knows of the home — areas, labels and entities read from Home Assistant and
//! kept for a while — and how a target ("kitchen", "Sofa Lamp") becomes entity ids.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::watch;

use super::client::{EntityState, HaClient, HaError};
use super::config::TargetType;

/// Every area with its name and entities, in one request: a JSON list of
/// `{"id", "name", "entities"}`.
pub const AREAS_TEMPLATE: &str = "{% set ns = namespace(areas=[]) %}{% for a in areas() %}\
     {% set ns.areas = ns.areas + [{'id': a, 'name': area_name(a), 'entities': area_entities(a)}] %}\
     {% endfor %}{{ ns.areas | to_json }}";
/// Every label with the areas it is on, in one request: a JSON list of `{"id", "areas"}`.
pub const LABELS_TEMPLATE: &str = "{% set ns = namespace(labels=[]) %}{% for l in labels() %}\
     {% set ns.labels = ns.labels + [{'id': l, 'areas': label_areas(l)}] %}\
     {% endfor %}{{ ns.labels | to_json }}";

/// The domains a command acts on when it names no type (`all_in_area`, "everything"): those
/// whose entities can be turned on and off. Sensors and the like are left alone.
pub const SWITCHABLE: [&str; 5] = ["light", "switch", "fan", "cover", "input_boolean"];

/// One area as [`AREAS_TEMPLATE`] gives it.
#[derive(Deserialize)]
struct AreaRow {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    entities: Vec<String>,
}

/// One label as [`LABELS_TEMPLATE`] gives it.
#[derive(Deserialize)]
struct LabelRow {
    id: String,
    #[serde(default)]
    areas: Vec<String>,
}

/// An area and its entities.
#[derive(Clone, Debug, PartialEq)]
pub struct Area {
    /// `living_room`.
    pub id: String,
    /// "Living Room", when Home Assistant gave names.
    pub name: Option<String>,
    /// The entity ids in the area (of its devices, or assigned directly).
    pub entity_ids: Vec<String>,
}

impl Area {
    /// The name to show: its name, else its id with spaces.
    pub fn display(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.id.replace('_', " "))
    }
}

/// A label and the areas it is on (label `hall` → `dining_room`, `living_room`).
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// `hall`.
    pub id: String,
    /// The area ids.
    pub area_ids: Vec<String>,
}

/// Areas, labels and entities at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// In Home Assistant's order.
    pub areas: Vec<Area>,
    /// Empty when labels could not be read (they are optional).
    pub labels: Vec<Label>,
    /// Every entity id of `/api/states`, with its friendly name.
    pub entities: Vec<(String, Option<String>)>,
    /// When it was read.
    pub fetched_at: Instant,
}

/// Where a target's entities were found, for messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The entity ids, each once, in a stable order.
    pub entity_ids: Vec<String>,
    /// "in Kitchen", "" (everywhere) or the entity's name.
    pub place: Place,
}

/// What a resolved target was.
#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    /// An area or a label, by the name the command used.
    Area(String),
    /// Every area.
    Everywhere,
    /// One entity, by its friendly name (or id).
    Entity(String),
}

impl Snapshot {
    /// Reads everything from Home Assistant in three requests made together: the areas with
    /// their names and entities, the labels with their areas (optional: a refusal leaves none)
    /// and the states. Each request waits up to `timeout`.
    pub async fn fetch(client: &HaClient, timeout: Duration) -> Result<Self, HaError> {
        let (areas, labels, states) = tokio::join!(
            Self::fetch_areas(client, timeout),
            Self::fetch_labels(client, timeout),
            client.states(timeout),
        );
        Ok(Self::assemble(areas?, labels?, states?))
    }

    /// As [`Snapshot::fetch`], with the `states` already read: the areas and labels in two
    /// requests made together.
    pub async fn fetch_with_states(
        client: &HaClient,
        timeout: Duration,
        states: Vec<EntityState>,
    ) -> Result<Self, HaError> {
        let (areas, labels) = tokio::join!(
            Self::fetch_areas(client, timeout),
            Self::fetch_labels(client, timeout),
        );
        Ok(Self::assemble(areas?, labels?, states))
    }

    fn assemble(areas: Vec<Area>, labels: Vec<Label>, states: Vec<EntityState>) -> Self {
        let entities = states
            .into_iter()
            .map(|state| (state.entity_id, state.attributes.friendly_name))
            .collect();
        Self {
            areas,
            labels,
            entities,
            fetched_at: Instant::now(),
        }
    }

    /// The areas with their names and entities.
    async fn fetch_areas(client: &HaClient, timeout: Duration) -> Result<Vec<Area>, HaError> {
        let rows = client
            .render_json::<Vec<AreaRow>>(AREAS_TEMPLATE, timeout)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| Area {
                id: row.id,
                name: row
                    .name
                    .map(|name| name.trim().to_owned())
                    .filter(|name| !name.is_empty()),
                entity_ids: row.entities,
            })
            .collect())
    }

    /// The labels and their areas; none when Home Assistant cannot list them (before 2024.4).
    async fn fetch_labels(client: &HaClient, timeout: Duration) -> Result<Vec<Label>, HaError> {
        match client
            .render_json::<Vec<LabelRow>>(LABELS_TEMPLATE, timeout)
            .await
        {
            Ok(rows) => Ok(rows
                .into_iter()
                .map(|row| Label {
                    id: row.id,
                    area_ids: row.areas,
                })
                .collect()),
            Err(error @ (HaError::Unreachable(_) | HaError::Untrusted(_))) => Err(error),
            Err(error) => {
                tracing::warn!(%error, "Home Assistant labels could not be read; going on without them.");
                Ok(Vec::new())
            }
        }
    }

    /// How old it is.
    pub fn age(&self) -> Duration {
        self.fetched_at.elapsed()
    }

    /// An entity's friendly name, if it has one.
    pub fn friendly_name(&self, entity_id: &str) -> Option<&str> {
        self.entities
            .iter()
            .find(|(id, _)| id == entity_id)
            .and_then(|(_, name)| name.as_deref())
    }

    /// The area named `target` (its id or name, `_` read as a space, any case).
    pub fn area(&self, target: &str) -> Option<&Area> {
        let wanted = match_key(target);
        self.areas.iter().find(|area| {
            match_key(&area.id) == wanted
                || area.name.as_deref().map(match_key) == Some(wanted.clone())
        })
    }

    /// The label named `target`.
    pub fn label(&self, target: &str) -> Option<&Label> {
        let wanted = match_key(target);
        self.labels
            .iter()
            .find(|label| match_key(&label.id) == wanted)
    }

    /// The entity ids `target_type` and `target` name, filtered by `entity_type` (a domain;
    /// `None`: the [`SWITCHABLE`] ones). `Err` says what was not found and what there is.
    pub fn resolve(
        &self,
        target_type: TargetType,
        target: &str,
        entity_type: Option<&str>,
    ) -> Result<Resolved, String> {
        let of_type = |id: &&String| match entity_type {
            Some(domain) => domain_of(id) == domain,
            None => SWITCHABLE.contains(&domain_of(id)),
        };
        let (candidates, place): (Vec<&String>, Place) = match target_type {
            TargetType::Area | TargetType::AllInArea => {
                let Some(area_ids) = self.area_ids(target) else {
                    // A device named where an area was expected.
                    return self
                        .resolve(TargetType::Entity, target, entity_type)
                        .map_err(|_| self.not_found(target));
                };
                let all: Vec<&String> = area_ids
                    .iter()
                    .filter_map(|id| self.areas.iter().find(|area| area.id == *id))
                    .flat_map(|area| &area.entity_ids)
                    .collect();
                let chosen: Vec<&String> = if target_type == TargetType::AllInArea {
                    all.iter()
                        .copied()
                        .filter(|id| SWITCHABLE.contains(&domain_of(id)))
                        .collect()
                } else {
                    all.iter().copied().filter(of_type).collect()
                };
                let place = Place::Area(target.trim().replace('_', " "));
                if chosen.is_empty() {
                    return Err(self.nothing_of_type(&place, entity_type, &all));
                }
                (chosen, place)
            }
            TargetType::All => {
                let chosen: Vec<&String> = self
                    .areas
                    .iter()
                    .flat_map(|area| &area.entity_ids)
                    .filter(of_type)
                    .collect();
                if chosen.is_empty() {
                    return Err(format!(
                        "I couldn't find any {} in your areas. {}",
                        plural(entity_type.unwrap_or("device"), 2),
                        self.available()
                    ));
                }
                (chosen, Place::Everywhere)
            }
            TargetType::Entity => {
                let id = self
                    .entity(target, entity_type)
                    .ok_or_else(|| self.not_found(target))?;
                let name = self.friendly_name(id).unwrap_or(id).to_owned();
                (vec![id], Place::Entity(name))
            }
        };
        let mut entity_ids: Vec<String> = Vec::with_capacity(candidates.len());
        for id in candidates {
            if !entity_ids.contains(id) {
                entity_ids.push(id.clone());
            }
        }
        Ok(Resolved { entity_ids, place })
    }

    /// The areas `target` names: an area, else a label's areas.
    fn area_ids(&self, target: &str) -> Option<Vec<String>> {
        if let Some(area) = self.area(target) {
            return Some(vec![area.id.clone()]);
        }
        self.label(target).map(|label| label.area_ids.clone())
    }

    /// The entity named `target`: an entity id, then an exact friendly name, then a friendly
    /// name containing it (whole words), then `<domain>.<target_with_underscores>`; for names,
    /// those of `entity_type` (else the switchable ones) first.
    fn entity(&self, target: &str, entity_type: Option<&str>) -> Option<&String> {
        let wanted = match_key(target);
        if wanted.is_empty() {
            return None;
        }
        let typed = |id: &String| match entity_type {
            Some(domain) => domain_of(id) == domain,
            None => SWITCHABLE.contains(&domain_of(id)),
        };
        let named = |test: &dyn Fn(&str) -> bool| {
            let matching = || {
                self.entities
                    .iter()
                    .filter(|(_, name)| name.as_deref().is_some_and(|name| test(&match_key(name))))
            };
            matching()
                .find(|(id, _)| typed(id))
                .or_else(|| matching().next())
                .map(|(id, _)| id)
        };
        let padded = format!(" {wanted} ");
        let slug = wanted.replace(' ', "_");
        self.entities
            .iter()
            .map(|(id, _)| id)
            .find(|id| id.eq_ignore_ascii_case(target.trim()))
            .or_else(|| named(&|name| name == wanted))
            .or_else(|| named(&|name| format!(" {name} ").contains(&padded)))
            .or_else(|| {
                let domains: Vec<&str> = match entity_type {
                    Some(domain) => vec![domain],
                    None => vec!["light", "switch", "fan", "cover"],
                };
                domains.into_iter().find_map(|domain| {
                    let id = format!("{domain}.{slug}");
                    self.entities
                        .iter()
                        .map(|(known, _)| known)
                        .find(|known| **known == id)
                })
            })
    }

    /// "I couldn't find …" with what there is.
    fn not_found(&self, target: &str) -> String {
        if target.trim().is_empty() {
            return format!("Which ones? Name an area or a device. {}", self.available());
        }
        format!(
            "I couldn't find an area, label or device called '{}'. {}",
            target.trim(),
            self.available()
        )
    }

    fn nothing_of_type(&self, place: &Place, entity_type: Option<&str>, all: &[&String]) -> String {
        let Place::Area(name) = place else {
            return self.available();
        };
        let kind = plural(entity_type.unwrap_or("device"), 2);
        if all.is_empty() {
            format!("There are no devices in {name}.")
        } else {
            let there: Vec<&str> = all.iter().map(|id| id.as_str()).collect();
            format!(
                "There are no {kind} in {name}; it has {}.",
                there.join(", ")
            )
        }
    }

    /// "Areas: Kitchen, Living Room. Labels: hall."
    pub fn available(&self) -> String {
        let areas: Vec<String> = self.areas.iter().map(Area::display).collect();
        let mut text = if areas.is_empty() {
            "Home Assistant has no areas.".to_owned()
        } else {
            format!("Areas: {}.", areas.join(", "))
        };
        if !self.labels.is_empty() {
            let labels: Vec<&str> = self.labels.iter().map(|label| label.id.as_str()).collect();
            text.push_str(&format!(" Labels: {}.", labels.join(", ")));
        }
        text
    }
}

/// The domain of an entity id (`light` of `light.kitchen`).
pub fn domain_of(entity_id: &str) -> &str {
    entity_id
        .split_once('.')
        .map_or(entity_id, |(domain, _)| domain)
}

/// A name for matching: lowercase, `_` and punctuation as spaces, spaces collapsed, without a
/// leading "the".
pub fn match_key(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .to_lowercase();
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let words = match words.split_first() {
        Some((&"the", rest)) if !rest.is_empty() => rest,
        _ => &words[..],
    };
    words.join(" ")
}

/// "light" → "lights" (or "light" for one), "switch" → "switches".
pub fn plural(kind: &str, count: usize) -> String {
    if count == 1 {
        return kind.replace('_', " ");
    }
    match kind {
        "switch" => "switches".into(),
        "device" | "light" | "fan" | "cover" => format!("{kind}s"),
        other => format!("{} entities", other.replace('_', " ")),
    }
}

/// A read of the home under way: `None` until it ends.
type Reading = watch::Receiver<Option<Result<Arc<Snapshot>, HaError>>>;

/// Keeps a [`Snapshot`], read on first use and again when it is too old.
///
/// A read runs in a task of its own and stores what it read here, so it finishes even when
/// the handler that started it is cancelled at its deadline; concurrent callers wait for that
/// one read, each no longer than it was told.
#[derive(Default)]
pub struct Cache {
    slot: Arc<Mutex<Slot>>,
}

#[derive(Default)]
struct Slot {
    snapshot: Option<Arc<Snapshot>>,
    reading: Option<Reading>,
}

impl Cache {
    /// Starts a read unless the snapshot is younger than `max_age` or a read is under way;
    /// does not wait for it. A failure is logged.
    pub fn warm(&self, client: &Arc<HaClient>, max_age: Duration, timeout: Duration) {
        let _ = self.fresh_or_reading(client, timeout, |snapshot| snapshot.age() < max_age);
    }

    /// The snapshot, read again when it is older than `max_age`; each request of a read waits
    /// up to `timeout`. `Ok(None)`: the read did not end within `wait` (it goes on).
    pub async fn get(
        &self,
        client: &Arc<HaClient>,
        max_age: Duration,
        timeout: Duration,
        wait: Duration,
    ) -> Result<Option<Arc<Snapshot>>, HaError> {
        self.get_unless(client, timeout, wait, |snapshot| snapshot.age() < max_age)
            .await
    }

    /// A snapshot newer than `seen`: read again, unless another caller already did.
    pub async fn refresh_after(
        &self,
        client: &Arc<HaClient>,
        seen: &Snapshot,
        timeout: Duration,
        wait: Duration,
    ) -> Result<Option<Arc<Snapshot>>, HaError> {
        self.get_unless(client, timeout, wait, |snapshot| {
            snapshot.fetched_at > seen.fetched_at
        })
        .await
    }

    async fn get_unless(
        &self,
        client: &Arc<HaClient>,
        timeout: Duration,
        wait: Duration,
        fresh: impl Fn(&Snapshot) -> bool,
    ) -> Result<Option<Arc<Snapshot>>, HaError> {
        let mut reading = match self.fresh_or_reading(client, timeout, fresh) {
            Ok(snapshot) => return Ok(Some(snapshot)),
            Err(reading) => reading,
        };
        match tokio::time::timeout(wait, reading.wait_for(Option::is_some)).await {
            Err(_) => Ok(None),
            Ok(Ok(done)) => match done.as_ref() {
                Some(Ok(snapshot)) => Ok(Some(Arc::clone(snapshot))),
                Some(Err(error)) => Err(error.clone()),
                None => Ok(None),
            },
            Ok(Err(_)) => Err(HaError::Unexpected(
                "the read of the areas and entities stopped before it ended".into(),
            )),
        }
    }

    /// The snapshot when `fresh` accepts it, else the read under way, started now if there is
    /// none.
    fn fresh_or_reading(
        &self,
        client: &Arc<HaClient>,
        timeout: Duration,
        fresh: impl Fn(&Snapshot) -> bool,
    ) -> Result<Arc<Snapshot>, Reading> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(snapshot) = slot.snapshot.as_ref().filter(|snapshot| fresh(snapshot)) {
            return Ok(Arc::clone(snapshot));
        }
        // A read whose task ended without an answer (it panicked) is not waited for.
        if let Some(reading) = slot
            .reading
            .as_ref()
            .filter(|reading| reading.has_changed().is_ok())
        {
            return Err(reading.clone());
        }
        let (sender, reading) = watch::channel(None);
        slot.reading = Some(reading.clone());
        let shared = Arc::clone(&self.slot);
        let client = Arc::clone(client);
        tokio::spawn(async move {
            let read = Snapshot::fetch(&client, timeout).await.map(Arc::new);
            match &read {
                Ok(snapshot) => tracing::debug!(
                    areas = snapshot.areas.len(),
                    labels = snapshot.labels.len(),
                    entities = snapshot.entities.len(),
                    "Read the Home Assistant areas and entities."
                ),
                Err(error) => {
                    tracing::warn!(%error, "Could not read the Home Assistant areas and entities.");
                }
            }
            {
                let mut slot = shared.lock().unwrap_or_else(PoisonError::into_inner);
                slot.reading = None;
                if let Ok(snapshot) = &read {
                    slot.snapshot = Some(Arc::clone(snapshot));
                }
            }
            sender.send_replace(Some(read));
        });
        Err(reading)
    }
}

/// Entity ids grouped by domain, domains in first-seen order.
pub fn by_domain(entity_ids: &[String]) -> Vec<(&str, Vec<&str>)> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for id in entity_ids {
        let domain = domain_of(id);
        match groups.iter_mut().find(|(known, _)| *known == domain) {
            Some((_, ids)) => ids.push(id),
            None => groups.push((domain, vec![id])),
        }
    }
    groups
}
