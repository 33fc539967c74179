//! `chronicle keys create | list | revoke`: personal API keys from the command line, on the
//! store directly (as `user add`), for whoever runs the server.

use std::process::ExitCode;

use anyhow::Context;
use chronicle_server::api_keys::{create, parse_lifetime};
use chronicle_store::{KeyScope, Owner};

use crate::args::KeysCommand;
use crate::offline::{open_store as open, user_named};

pub async fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Create {
            user,
            name,
            scope,
            expires,
            data_dir,
        } => {
            let scope: KeyScope = scope.parse().map_err(anyhow::Error::msg)?;
            let lifetime = expires
                .as_deref()
                .map(parse_lifetime)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let store = open(&data_dir).await?;
            let user = user_named(&store, &user).await?;
            let (key, record) = create(&store, &user, &name, scope, lifetime).await?;
            eprintln!(
                "{} key `{}` for {} ({}), {}; shown this once:",
                record.scope,
                record.name,
                user.email,
                record.id,
                record
                    .expires_at
                    .as_deref()
                    .map_or("until revoked".to_owned(), |at| format!("until {at}"))
            );
            println!("{key}");
        }
        KeysCommand::List {
            user,
            json,
            data_dir,
        } => {
            let store = open(&data_dir).await?;
            let owner = match user {
                Some(email) => Owner::User(user_named(&store, &email).await?.id),
                None => Owner::Admin,
            };
            let keys = store.api_keys(&owner).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else if keys.is_empty() {
                println!("no keys");
            } else {
                let now = chronicle_store::time::now();
                for key in keys {
                    let state = if key.revoked_at.is_some() {
                        "revoked"
                    } else if key.is_valid_at(&now) {
                        "active"
                    } else {
                        "expired"
                    };
                    println!(
                        "{}  {}…  {:<5}  {:<7}  {}  last used {}",
                        key.id,
                        key.prefix,
                        key.scope,
                        state,
                        key.name,
                        key.last_used_at.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        KeysCommand::Revoke { id, data_dir } => {
            let store = open(&data_dir).await?;
            let key = store
                .revoke_api_key(&Owner::Admin, &id)
                .await
                .with_context(|| format!("no key `{id}`; `chronicle keys list` shows them"))?;
            println!("revoked {} ({})", key.id, key.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
