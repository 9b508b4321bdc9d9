//! A throwaway PostgreSQL schema for one benchmark: created at the start, dropped at the end
//! (also if the run fails), so runs never see each other's rows.

use anyhow::Context as _;

/// A schema that exists until [`BenchSchema::drop_now`] or until this value is dropped.
pub struct BenchSchema {
    server_url: String,
    name: String,
    dropped: bool,
}

impl BenchSchema {
    /// Creates a fresh schema on the server at `server_url`.
    ///
    /// # Errors
    /// If the server cannot be reached or refuses.
    pub async fn create(server_url: &str) -> anyhow::Result<Self> {
        let name = format!("tokenauth_bench_{}", uuid::Uuid::new_v4().simple());
        let client = connect(server_url).await?;
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .with_context(|| format!("creating schema {name}"))?;
        Ok(Self {
            server_url: server_url.to_owned(),
            name,
            dropped: false,
        })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's URL.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The server URL with this schema as the search path, usable as the server's
    /// `database_url`.
    pub fn url(&self) -> String {
        let separator = if self.server_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.server_url, self.name
        )
    }

    /// Drops the schema and everything in it.
    ///
    /// # Errors
    /// If the server cannot be reached or refuses.
    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        self.dropped = true;
        drop_schema(&self.server_url, &self.name).await
    }
}

impl Drop for BenchSchema {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let url = self.server_url.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime or outside one: do the async work on a thread of its own.
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                let _ = runtime.block_on(drop_schema(&url, &name));
            }
        });
        let _ = worker.join();
    }
}

async fn drop_schema(url: &str, name: &str) -> anyhow::Result<()> {
    let client = connect(url).await?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
        .await
        .with_context(|| format!("dropping schema {name}"))
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}
