//! The host's implementation of [`Services`]: one handle per plugin call, checking every
//! request against the plugin's grants and recording it in the dispatch record.

use std::future::Future;
use std::sync::{Arc, Weak};

use chronicle_host_ports::{Actor, BackendError, DocumentStore};
use chronicle_plugin_api::{
    CloseReason, JsonMap, Permission, PluginResult, ServiceError, Services, async_trait,
};
use serde_json::{Value, json};

use crate::grants::Grants;
use crate::record::{CallRecorder, ServiceCall};
use crate::slot::HostInner;

/// Services as seen by one plugin during one call.
pub(crate) struct HostServices {
    pub host: Weak<HostInner>,
    pub plugin_id: Arc<str>,
    pub actor: Actor,
    pub grants: Grants,
    /// How many `call_plugin` hops led here; bounded so plugins calling each other in a cycle
    /// end with an error instead of a stack overflow.
    pub depth: u8,
    pub recorder: CallRecorder,
}

/// How deep `call_plugin` may nest.
pub(crate) const MAX_CALL_DEPTH: u8 = 8;

impl HostServices {
    fn check(
        &self,
        call: &'static str,
        permission: Permission,
        args: Value,
    ) -> Result<Arc<HostInner>, ServiceError> {
        let allowed = self.grants.contains(permission);
        self.recorder.push(ServiceCall {
            plugin_id: Arc::clone(&self.plugin_id),
            call,
            args,
            allowed,
        });
        if !allowed {
            tracing::warn!(plugin = %self.plugin_id, call, %permission, "Service call denied.");
            return Err(ServiceError::PermissionDenied {
                plugin_id: self.plugin_id.to_string(),
                service: call,
                permission,
            });
        }
        let host = self.host.upgrade().ok_or(ServiceError::Unavailable {
            service: call,
            reason: "the plugin host is shutting down".into(),
        })?;
        if let Some(slot) = host.slots.iter().find(|slot| slot.id == self.plugin_id)
            && slot.permissions_used.record(permission)
            && !self.grants.is_declared()
        {
            let used: Vec<&str> = slot
                .permissions_used
                .list()
                .into_iter()
                .map(Permission::as_str)
                .collect();
            tracing::info!(
                plugin = %self.plugin_id,
                "Plugin used `{permission}` for the first time; its least list so far: `permissions: [{}]`.",
                used.join(", ")
            );
        }
        Ok(host)
    }
}

impl HostServices {
    /// A document-store call: permission `database`, recorded, then `run` on the store with the
    /// owner and name of the collection. `other_plugin/name` addresses another plugin's
    /// collection, which may be read but not changed.
    async fn documents<T, F, Fut>(
        &self,
        call: &'static str,
        access: Access,
        args: Value,
        run: F,
    ) -> Result<T, ServiceError>
    where
        F: FnOnce(Arc<dyn DocumentStore>, String, String) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let collection = args
            .get("collection")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let host = self.check(call, Permission::Database, args)?;
        let (owner, name) = match collection.split_once('/') {
            Some((owner, name))
                if access == Access::Read && !owner.is_empty() && !name.is_empty() =>
            {
                (owner.to_owned(), name.to_owned())
            }
            Some((owner, _)) if owner != &*self.plugin_id => {
                return Err(ServiceError::InvalidRequest {
                    service: call,
                    reason: format!(
                        "`{collection}` belongs to plugin `{owner}`: plugins may read other plugins' collections but change only their own"
                    ),
                });
            }
            Some((_, name)) => (self.plugin_id.to_string(), name.to_owned()),
            None => (self.plugin_id.to_string(), collection),
        };
        if name.is_empty() {
            return Err(ServiceError::InvalidRequest {
                service: call,
                reason: "the collection name is empty".into(),
            });
        }
        run(Arc::clone(&host.backends.documents), owner, name)
            .await
            .map_err(backend_error(call))
    }
}

/// Whether a document-store call reads or changes documents.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

fn backend_error(service: &'static str) -> impl Fn(BackendError) -> ServiceError {
    move |error| match error {
        BackendError::InvalidRequest(reason) => ServiceError::InvalidRequest { service, reason },
        BackendError::Unavailable(reason) => ServiceError::Unavailable { service, reason },
        BackendError::Failed(reason) => ServiceError::Failed { service, reason },
    }
}

#[async_trait]
impl Services for HostServices {
    async fn close_conversation(
        &self,
        session_id: &str,
        reason: CloseReason,
    ) -> Result<bool, ServiceError> {
        const CALL: &str = "close_conversation";
        let host = self.check(
            CALL,
            Permission::CloseConversation,
            json!({"session_id": session_id, "reason": reason}),
        )?;
        host.backends
            .conversations
            .close_conversation(&self.actor, session_id, reason)
            .await
            .map_err(backend_error(CALL))
    }

    async fn stop_playback(
        &self,
        client_id: &str,
        user_id: Option<&str>,
    ) -> Result<bool, ServiceError> {
        let host = self.check(
            "stop_playback",
            Permission::StopPlayback,
            json!({"client_id": client_id, "user_id": user_id}),
        )?;
        let owner = match user_id {
            Some(user_id) => Arc::from(user_id),
            None => self.actor.user_id(),
        };
        let told = host
            .backends
            .devices
            .stop_playback(&self.actor, &owner, client_id);
        Ok(told > 0)
    }

    async fn star_conversation(&self, session_id: &str) -> Result<bool, ServiceError> {
        const CALL: &str = "star_conversation";
        let host = self.check(
            CALL,
            Permission::StarConversation,
            json!({"session_id": session_id}),
        )?;
        host.backends
            .conversations
            .star_conversation(&self.actor, session_id)
            .await
            .map_err(backend_error(CALL))
    }

    async fn call_plugin(
        &self,
        plugin_id: &str,
        action: &str,
        data: JsonMap,
        user_id: Option<&str>,
    ) -> Result<Option<PluginResult>, ServiceError> {
        let args =
            json!({"plugin_id": plugin_id, "action": action, "data": data, "user_id": user_id});
        let host = self.check("call_plugin", Permission::CallPlugin, args)?;
        if self.depth >= MAX_CALL_DEPTH {
            return Ok(Some(PluginResult::failure(format!(
                "Plugin action failed: call_plugin nested more than {MAX_CALL_DEPTH} deep (do plugins call each other in a cycle?)"
            ))));
        }
        // Without a user the called plugin acts for the same one as its caller: a plugin cannot
        // raise itself to the host's reach by naming no user (or one called `system`).
        let actor = user_id.map_or_else(|| self.actor.clone(), |user| Actor::User(user.into()));
        Ok(host
            .call_action(
                plugin_id,
                action,
                data,
                actor,
                self.depth + 1,
                &self.recorder,
            )
            .await)
    }

    async fn insert_one(
        &self,
        collection: &str,
        document: JsonMap,
    ) -> Result<String, ServiceError> {
        let args = json!({"collection": collection, "document": document});
        self.documents(
            "insert_one",
            Access::Write,
            args,
            |store, owner, name| async move { store.insert_one(&owner, &name, document).await },
        )
        .await
    }

    async fn find(&self, collection: &str, filter: &JsonMap) -> Result<Vec<JsonMap>, ServiceError> {
        let args = json!({"collection": collection, "filter": filter});
        self.documents(
            "find",
            Access::Read,
            args,
            |store, owner, name| async move { store.find(&owner, &name, filter, None).await },
        )
        .await
    }

    async fn find_one(
        &self,
        collection: &str,
        filter: &JsonMap,
    ) -> Result<Option<JsonMap>, ServiceError> {
        let args = json!({"collection": collection, "filter": filter});
        self.documents(
            "find_one",
            Access::Read,
            args,
            |store, owner, name| async move {
                let found = store.find(&owner, &name, filter, Some(1)).await?;
                Ok(found.into_iter().next())
            },
        )
        .await
    }

    async fn update_one(
        &self,
        collection: &str,
        filter: &JsonMap,
        update: &JsonMap,
    ) -> Result<bool, ServiceError> {
        let args = json!({"collection": collection, "filter": filter, "update": update});
        self.documents("update_one", Access::Write, args, |store, owner, name| async move {
            store
                .update_one(&owner, &name, filter, update)
                .await
        })
        .await
    }

    async fn delete_one(&self, collection: &str, filter: &JsonMap) -> Result<bool, ServiceError> {
        let args = json!({"collection": collection, "filter": filter});
        self.documents(
            "delete_one",
            Access::Write,
            args,
            |store, owner, name| async move { store.delete_one(&owner, &name, filter).await },
        )
        .await
    }

    async fn count(&self, collection: &str, filter: &JsonMap) -> Result<u64, ServiceError> {
        let args = json!({"collection": collection, "filter": filter});
        self.documents(
            "count",
            Access::Read,
            args,
            |store, owner, name| async move { store.count(&owner, &name, filter).await },
        )
        .await
    }

    async fn search(
        &self,
        query: &chronicle_plugin_api::protocol::SearchParams,
    ) -> Result<serde_json::Value, ServiceError> {
        const CALL: &str = "search";
        let host = self.check(
            CALL,
            Permission::Search,
            serde_json::to_value(query).unwrap_or_default(),
        )?;
        let Some(search) = &host.backends.search else {
            return Err(ServiceError::Unavailable {
                service: CALL,
                reason: "this host has no search (it runs with the server)".into(),
            });
        };
        let user: Arc<str> = match &query.user_id {
            Some(user_id) => Arc::from(user_id.as_str()),
            None => self.actor.user_id(),
        };
        search
            .search(&user, query)
            .await
            .map_err(backend_error(CALL))
    }

    async fn llm_generate(&self, prompt: &str) -> Result<String, ServiceError> {
        const CALL: &str = "llm_generate";
        let host = self.check(CALL, Permission::Llm, json!({"prompt": prompt}))?;
        let Some(llm) = &host.backends.llm else {
            return Err(ServiceError::Unavailable {
                service: CALL,
                reason: "no language model is configured".into(),
            });
        };
        llm.generate(prompt).await.map_err(backend_error(CALL))
    }
}
