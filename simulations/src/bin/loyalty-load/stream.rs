//! The store-server transport: the tills' operations multiplexed over a few long-lived
//! streams (`StoreService.Exchange`), as store servers carry the tills behind them. Each
//! stream carries the tills of some stores; each operation is tagged and its answer matched
//! by tag.

use super::*;
use loyalty_proto::metadata::{STORE_SECRET_HEADER, STORE_SERVER_HEADER};
use loyalty_proto::pb::store_reply::Answer;
use loyalty_proto::pb::store_request::Operation;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<pb::StoreReply>>>>;

/// One store server's stream.
struct Link {
    tx: mpsc::Sender<pb::StoreRequest>,
    waiting: Waiting,
}

/// The streams, and which stream carries which store.
pub(super) struct Streams {
    links: Vec<Link>,
    tag: AtomicU64,
}

impl Streams {
    pub(super) async fn open(
        server: &http::Uri,
        name: &str,
        secret: &str,
        streams: usize,
    ) -> anyhow::Result<Streams> {
        let mut links = Vec::new();
        for _ in 0..streams.max(1) {
            let conn = Conn::open(server).await?;
            let mut client =
                pb::store_service_client::StoreServiceClient::with_origin(conn, server.clone());
            // A few hundred operations buffered towards the connection: enough for bursts
            // to form, bounded like everything else.
            let (tx, rx) = mpsc::channel(1024);
            let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
            req.metadata_mut()
                .insert(STORE_SERVER_HEADER, name.parse().context("--store-server")?);
            req.metadata_mut().insert(
                STORE_SECRET_HEADER,
                secret.parse().context("--store-secret")?,
            );
            let mut answers = client
                .exchange(req)
                .await
                .context("opening a store-server stream")?
                .into_inner();
            let waiting: Waiting = Arc::default();
            let w = waiting.clone();
            tokio::spawn(async move {
                while let Ok(Some(reply)) = answers.message().await {
                    if let Some(to) = w.lock().expect("lock").remove(&reply.tag) {
                        let _ = to.send(reply);
                    }
                }
                // The stream ended: every operation still waiting fails (its sender drops).
                w.lock().expect("lock").clear();
            });
            links.push(Link { tx, waiting });
        }
        Ok(Streams {
            links,
            tag: AtomicU64::new(0),
        })
    }

    /// Sends one operation of cashbox `till` (on its store's stream) and waits for its answer.
    pub(super) async fn exec(
        &self,
        till: u32,
        store: u32,
        op: Operation,
    ) -> anyhow::Result<Answer> {
        let link = &self.links[store as usize % self.links.len()];
        let tag = self.tag.fetch_add(1, Ordering::Relaxed);
        let (to, answer) = oneshot::channel();
        link.waiting.lock().expect("lock").insert(tag, to);
        let req = pb::StoreRequest {
            tag,
            cashbox_id: till,
            operation: Some(op),
            ..Default::default()
        };
        if link.tx.send(req).await.is_err() {
            bail!("the store-server stream is closed");
        }
        let reply = answer
            .await
            .context("the store-server stream ended before the answer")?;
        reply.answer.context("an answer without content")
    }
}
