//! Property tests: every parser of what an outside service or a user hands the pipeline
//! (provider answers, Wyoming events, replay files, model output) returns a value or an
//! error for any input, and never panics. Inputs are arbitrary text and bytes, and arbitrary
//! JSON shaped like the real answers, so the parsers are driven past their first check.

use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::io::BufReader;

use crate::transcription::{deepgram, openai, wyoming};

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|n| serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,10}", inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A Deepgram-like message whose every field may hold the wrong type.
fn deepgram_like() -> impl Strategy<Value = Value> {
    (
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        any::<bool>(),
    )
        .prop_map(|(transcript, words, start, confidence, is_final)| {
            json!({
                "type": "Results",
                "is_final": is_final,
                "channel": {"alternatives": [{
                    "transcript": transcript,
                    "confidence": confidence,
                    "words": [{"word": "hey", "start": start, "end": 1.0}, words],
                }]},
            })
        })
}

/// An OpenAI-like answer with fields of any type.
fn openai_like() -> impl Strategy<Value = Value> {
    (json_value(), json_value(), json_value(), json_value()).prop_map(
        |(text, segments, words, duration)| {
            json!({"text": text, "segments": segments, "words": words, "duration": duration})
        },
    )
}

fn read_event(bytes: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut reader = BufReader::new(bytes);
        // Read until the bytes give out or stop being events.
        while wyoming::read_event(&mut reader).await.is_ok() {}
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn deepgram_messages_never_panic(text in ".{0,200}", shaped in deepgram_like(), base in -1e6f64..1e6) {
        let _ = deepgram::parse_message(&text, base);
        let _ = deepgram::parse_message(&shaped.to_string(), base);
    }

    #[test]
    fn openai_answers_never_panic(text in ".{0,200}", shaped in openai_like(), seconds in 0f64..1e5) {
        let _ = openai::parse(&text, seconds);
        let _ = openai::parse(&shaped.to_string(), seconds);
    }

    #[test]
    fn wyoming_events_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), header in json_value(), data_length in 0u64..64) {
        read_event(&bytes);
        // A header that announces data, then fewer or other bytes than it said.
        let mut framed = format!("{}\n", json!({"type": "transcript", "data": header, "data_length": data_length})).into_bytes();
        framed.extend_from_slice(&bytes);
        read_event(&framed);
    }

    #[test]
    fn replay_files_never_panic(text in ".{0,300}", lines in prop::collection::vec(json_value(), 0..6)) {
        let _ = crate::replay::parse(&text, "fuzz.jsonl");
        let file: Vec<String> = lines.iter().map(Value::to_string).collect();
        let _ = crate::replay::parse(&file.join("\n"), "fuzz.jsonl");
    }

    #[test]
    fn model_answers_never_panic(text in ".{0,300}", shaped in json_value()) {
        let _ = crate::memory::parse_facts(&text);
        let _ = crate::memory::parse_facts(&json!({"facts": shaped}).to_string());
        let _ = crate::llm::json_in(&text);
        let _ = crate::transcription::sentences(&text);
    }
}
