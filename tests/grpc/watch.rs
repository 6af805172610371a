//! AdminService.WatchTransitions through the real binary: transitions of
//! pushed batches in cursor order, resuming after a disconnect and after a
//! restart with nothing lost or repeated, a consumer that never reads while
//! thousands of batches apply, expired and future cursors, and the admin
//! scope.

use strata_client::{AdminClient, ClientError, Connection};
use strata_proto::v1::admin_service_client::AdminServiceClient;
use strata_proto::v1::{Transition, WatchTransitionsRequest, WatchTransitionsResponse};
use tonic::{Code, Streaming};

use crate::support::{Server, batch, profile, push};

async fn watch(
    server: &Server,
    from_cursor: u64,
    layers: &[&str],
) -> Streaming<WatchTransitionsResponse> {
    AdminServiceClient::new(server.channel().await)
        .watch_transitions(WatchTransitionsRequest {
            from_cursor,
            layers: layers.iter().map(|layer| layer.to_string()).collect(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Reads until `count` transitions arrived.
async fn take(stream: &mut Streaming<WatchTransitionsResponse>, count: usize) -> Vec<Transition> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let message = stream
            .message()
            .await
            .unwrap()
            .expect("the stream stays open");
        seen.extend(message.transitions);
    }
    seen
}

/// (cursor, user, from, to) of each transition.
fn rows(transitions: &[Transition]) -> Vec<(u64, String, String, String)> {
    transitions
        .iter()
        .map(|t| {
            (
                t.cursor,
                t.user_id.clone(),
                t.from_layer.clone(),
                t.to_layer.clone(),
            )
        })
        .collect()
}

fn row(cursor: u64, user: &str, from: &str, to: &str) -> (u64, String, String, String) {
    (cursor, user.into(), from.into(), to.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_see_transitions_in_order_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, None);
    let mut ingest = server.ingest().await;
    // Before any watcher: not seen by a watcher that starts "from now". Its
    // records (model version v1) name the new store's version.
    push(
        &mut ingest,
        vec![batch("p", 1, vec![profile("early", 1)], &[])],
    )
    .await
    .unwrap();

    let mut live = watch(&server, 0, &[]).await;
    let mut churn_only = watch(&server, 0, &["layer-3"]).await;
    push(
        &mut ingest,
        vec![
            batch("p", 2, vec![profile("u1", 1), profile("u2", 1)], &[]),
            // u1 moves, u2 is erased, early's upsert keeps its layer.
            batch("p", 3, vec![profile("u1", 2), profile("early", 1)], &["u2"]),
            batch("p", 4, vec![profile("u1", 3)], &[]),
        ],
    )
    .await
    .unwrap();
    let seen = take(&mut live, 5).await;
    assert_eq!(
        rows(&seen),
        vec![
            row(2, "u1", "", "layer-1"),
            row(3, "u2", "", "layer-1"),
            row(4, "u1", "layer-1", "layer-2"),
            row(5, "u2", "layer-1", ""),
            row(6, "u1", "layer-2", "layer-3"),
        ]
    );
    assert!(
        seen.iter()
            .all(|t| t.model_version == "v1" && t.at.is_some())
    );
    assert_eq!(
        rows(&take(&mut churn_only, 1).await),
        vec![row(6, "u1", "layer-2", "layer-3")]
    );

    // The consumer processed up to cursor 4 and went away; more batches
    // apply meanwhile.
    drop(live);
    push(
        &mut ingest,
        vec![batch("p", 5, vec![profile("u3", 1)], &["u1"])],
    )
    .await
    .unwrap();
    let mut resumed = watch(&server, 4, &[]).await;
    assert_eq!(
        rows(&take(&mut resumed, 4).await),
        vec![
            row(5, "u2", "layer-1", ""),
            row(6, "u1", "layer-2", "layer-3"),
            row(7, "u3", "", "layer-1"),
            row(8, "u1", "layer-3", ""),
        ]
    );

    // The log survives a restart: resuming from 6 gives exactly 7 and 8,
    // then new transitions continue the numbering.
    drop(resumed);
    // A watcher still open at shutdown is ended (it would otherwise hold
    // the graceful shutdown) and told where to resume.
    assert!(server.terminate().success());
    assert_eq!(
        rows(&take(&mut churn_only, 1).await),
        vec![row(8, "u1", "layer-3", "")]
    );
    let status = churn_only.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.message(),
        "the server is shutting down; resume with from_cursor 8"
    );
    let server = Server::start(&data, None);
    let mut after_restart = watch(&server, 6, &[]).await;
    assert_eq!(
        rows(&take(&mut after_restart, 2).await),
        vec![row(7, "u3", "", "layer-1"), row(8, "u1", "layer-3", "")]
    );
    let mut ingest = server.ingest().await;
    push(
        &mut ingest,
        vec![batch("p", 6, vec![profile("u4", 2)], &[])],
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&take(&mut after_restart, 1).await),
        vec![row(9, "u4", "", "layer-2")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_never_reads_does_not_hold_ingest() {
    const BATCHES: u64 = 2000;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        Some("[store]\ntransitions_retained = 300\n"),
    );
    // Opened, then never read while ingest runs.
    let mut idle = watch(&server, 0, &[]).await;
    let mut ingest = server.ingest().await;
    // Every batch moves one user to another layer: one transition each.
    let batches = (1..=BATCHES)
        .map(|sequence| {
            batch(
                "p",
                sequence,
                vec![profile("mover", sequence as u32 % 2 + 1)],
                &[],
            )
        })
        .collect();
    let pushed = push(&mut ingest, batches).await.unwrap();
    assert_eq!(pushed.batches_applied, BATCHES);

    // Now the consumer reads: either every transition, in order, from the
    // log, or it is told it fell behind the retention.
    let mut next = 1;
    loop {
        match idle.message().await {
            Ok(Some(message)) => {
                for transition in message.transitions {
                    assert_eq!(transition.cursor, next, "no gap, no repeat");
                    next += 1;
                }
                if next > BATCHES {
                    break;
                }
            }
            Ok(None) => panic!(
                "the stream ended without a status after cursor {}",
                next - 1
            ),
            Err(status) => {
                assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
                assert!(
                    status
                        .message()
                        .contains("is older than the oldest retained transition"),
                    "{}",
                    status.message()
                );
                break;
            }
        }
    }

    // A cursor out of retention gets the clear status at once.
    let oldest = BATCHES - 300 + 1;
    let status = watch(&server, 5, &[]).await.message().await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    assert_eq!(
        status.message(),
        format!(
            "cursor 5 is older than the oldest retained transition {oldest}; resume from {oldest} \
             (from_cursor {}): transitions 6 to {} were lost",
            oldest - 1,
            oldest - 1
        )
    );
    // Resuming as told gives every retained transition.
    let mut retained = watch(&server, oldest - 1, &[]).await;
    let rest = take(&mut retained, 300).await;
    assert_eq!(rest.first().unwrap().cursor, oldest);
    assert_eq!(rest.last().unwrap().cursor, BATCHES);

    // A cursor beyond the newest (a store restored from an older backup).
    let status = watch(&server, BATCHES + 10, &[])
        .await
        .message()
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    assert!(
        status
            .message()
            .contains("beyond the newest transition 2000"),
        "{}",
        status.message()
    );
}

const ADMIN_SECRET: &str = "admin-secret-5d1c7e9a3b6f2048";
const INGEST_SECRET: &str = "ingest-secret-8a2f6c4e0b7d1935";

async fn admin_as(server: &Server, secret: Option<&str>) -> AdminClient {
    let mut connection = Connection::new(server.endpoint());
    if let Some(secret) = secret {
        connection = connection.with_token(secret.to_owned());
    }
    AdminClient::new(connection.connect().await.unwrap())
}

fn code(result: Result<Streaming<WatchTransitionsResponse>, ClientError>) -> Code {
    match result {
        Err(ClientError::Rpc(status)) => status.code(),
        Err(other) => panic!("{other}"),
        Ok(_) => Code::Ok,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_and_stats_need_the_admin_scope() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nname = \"ops\"\nsecret = \"{ADMIN_SECRET}\"\nscopes = [\"admin\"]\n\n\
             [[token]]\nname = \"recompute\"\nsecret = \"{INGEST_SECRET}\"\nscopes = [\"ingest\"]\n"
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        Some(&format!("[auth]\ntokens_file = {tokens:?}\n")),
    );
    let anonymous = admin_as(&server, None)
        .await
        .watch_transitions(0, vec![])
        .await;
    assert_eq!(code(anonymous), Code::Unauthenticated);
    let ingest_only = admin_as(&server, Some(INGEST_SECRET))
        .await
        .watch_transitions(0, vec![])
        .await;
    assert_eq!(code(ingest_only), Code::PermissionDenied);
    match admin_as(&server, Some(INGEST_SECRET)).await.stats().await {
        Err(ClientError::Rpc(status)) => assert_eq!(status.code(), Code::PermissionDenied),
        other => panic!("{other:?}"),
    }

    let mut admin = admin_as(&server, Some(ADMIN_SECRET)).await;
    let mut stream = admin.watch_transitions(0, vec![]).await.unwrap();
    let mut ingest = strata_proto::v1::ingest_service_client::IngestServiceClient::with_interceptor(
        server.channel().await,
        |mut request: tonic::Request<()>| {
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {INGEST_SECRET}").parse().unwrap(),
            );
            Ok(request)
        },
    );
    ingest
        .apply_updates(tokio_stream::iter(vec![batch(
            "p",
            1,
            vec![profile("u1", 1)],
            &[],
        )]))
        .await
        .unwrap();
    assert_eq!(
        rows(&take(&mut stream, 1).await),
        vec![row(1, "u1", "", "layer-1")]
    );
    assert_eq!(admin.stats().await.unwrap().users, 1);
}
