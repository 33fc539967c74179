//! Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Standard base64 that decodes with or without padding, as the reference libraries do.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A signing secret: the bytes a `whsec_…` string encodes. Its `Debug` does not show them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Decodes `whsec_<base64>`; the error says what is wrong, for a settings message.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(encoded) = text.trim().strip_prefix(SECRET_PREFIX) else {
            return Err(format!(
                "must be a Standard Webhooks secret, `{SECRET_PREFIX}` followed by base64: the receiver's secret, or a new one for both sides from `echo \"{SECRET_PREFIX}$(openssl rand -base64 32)\"`"
            ));
        };
        match BASE64.decode(encoded) {
            Ok(bytes) if bytes.is_empty() => Err(format!(
                "is empty after `{SECRET_PREFIX}`: put the base64 key there"
            )),
            Ok(bytes) => Ok(Self(bytes)),
            Err(error) => Err(format!(
                "the part after `{SECRET_PREFIX}` is not base64 ({error}): copy the whole secret the receiver shows"
            )),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The `webhook-signature` header for a message: `v1,<base64 HMAC-SHA256>` of
/// `"{id}.{timestamp}.{body}"` under `secret`.
pub fn sign(secret: &Secret, id: &str, timestamp: u64, body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret.0)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its reference libraries
    /// (checked with the Python `standardwebhooks` 1.1.0: `Webhook(secret).sign(...)`).
    #[test]
    fn signs_the_specification_example() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_need_the_prefix_and_base64_with_or_without_padding() {
        assert_eq!(
            Secret::parse("whsec_AAE="),
            Secret::parse("whsec_AAE"),
            "padding is optional"
        );
        assert_eq!(Secret::parse("whsec_AAE=").unwrap().0, [0, 1]);
        let missing = Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err();
        assert!(
            missing.starts_with("must be a Standard Webhooks secret"),
            "{missing}"
        );
        assert!(Secret::parse("whsec_").unwrap_err().contains("empty"));
        assert!(
            Secret::parse("whsec_not base64!")
                .unwrap_err()
                .contains("not base64")
        );
        assert_eq!(
            format!("{:?}", Secret::parse("whsec_AAE").unwrap()),
            "Secret(…)"
        );
    }
}
