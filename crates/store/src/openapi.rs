//! What the server's OpenAPI document needs from the store's types that the plugin contract
//! cannot give: the contract crate depends on nothing but serde, so [`EndReason`]'s schema is
//! made here, from the names it serializes to.

use std::borrow::Cow;

use chronicle_plugin_api::EndReason;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// The schema of an [`EndReason`]: one of its names.
pub struct EndReasonName;

impl utoipa::PartialSchema for EndReasonName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("Why a conversation or session ended."))
            .enum_values(Some(EndReason::ALL.iter().map(|reason| reason.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for EndReasonName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EndReason")
    }
}
