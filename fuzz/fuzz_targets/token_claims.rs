//! Token claim overrides (`[participants.NAME.token]`): any set of dotted paths to set and remove, with
//! any JSON values, applied by `token::claims` to a valid claim set and minted. Bad paths must be
//! `TokenError::InvalidPath`, never a panic; a minted token must decode back to the claims it was given.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use harness::redact::Secret;
use harness::token::{self, Signature, SigningKey, TokenOverrides, TokenRequest, UserInfo};
use libfuzzer_sys::fuzz_target;

/// A JSON value, bounded in depth by the input's length.
#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn value(self) -> serde_json::Value {
        match self {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => b.into(),
            Json::Int(i) => i.into(),
            // NaN and infinities have no JSON form: null, as serde_json writes them.
            Json::Float(f) => serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Json::Str(s) => s.into(),
            Json::Array(a) => a.into_iter().map(Json::value).collect(),
            Json::Object(o) => o.into_iter().map(|(k, v)| (k, v.value())).collect(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    claims: Vec<(String, Json)>,
    remove: Vec<String>,
    expired: bool,
    not_yet_valid: bool,
    room: Option<String>,
    signature: u8,
    now: u64,
    lifetime: u64,
}

fuzz_target!(|input: Input| {
    let overrides = TokenOverrides {
        claims: input
            .claims
            .into_iter()
            .map(|(k, v)| (k, v.value()))
            .collect::<BTreeMap<_, _>>(),
        remove: input.remove,
        expired: input.expired,
        not_yet_valid: input.not_yet_valid,
        room: input.room,
        signature: match input.signature % 3 {
            0 => Signature::Valid,
            1 => Signature::WrongSecret,
            _ => Signature::None,
        },
    };
    let request = TokenRequest::new(
        "jitsi-harness",
        "meet.jitsi",
        "room",
        UserInfo::new("id", "name"),
    )
    .with_lifetime(std::time::Duration::from_secs(input.lifetime))
    .with_now(input.now);
    let claims = match token::claims(&request, &overrides) {
        Ok(c) => c,
        Err(token::TokenError::InvalidPath { .. }) => return,
        Err(e) => panic!("claims failed otherwise than by a path: {e}"),
    };
    let key = SigningKey::Hs256(Secret::new("fuzz-secret-fuzz-secret-fuzz-secret"));
    let minted = token::mint(&key, &request, &overrides).expect("claims were fine, so is signing");
    let _ = token::describe(&minted);
    let (_, decoded) = token::decode_unverified(minted.expose()).expect("a minted token decodes");
    // Compared through one JSON text: serde_json's float parsing (without `float_roundtrip`) may
    // miss a float's last digit, on both sides alike (found by this target: -4.716780875689871e304).
    let text = serde_json::to_string(&claims).expect("claims serialise");
    let expected: serde_json::Value = serde_json::from_str(&text).expect("and parse back");
    assert_eq!(
        decoded, expected,
        "the token carries the claims it was given"
    );
});
