//! The compat scenario (see compat/run.ts) with signalrs-client, which speaks WebSockets and JSON only.
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use signalrs_client::{builder::Auth, hub::arguments::HubArgument, hub::Hub, SignalRClient};
use std::collections::HashMap;
use std::env::var;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Note {
    id: String,
    audience_id: String,
}
impl HubArgument for Note {}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ReadChange {
    event_id: String,
    is_read: bool,
}
impl HubArgument for ReadChange {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Audience {
    audience_type: i32,
    audience_value: String,
}

#[derive(Default)]
struct State {
    received: HashMap<String, Note>,
    reads: Vec<ReadChange>,
}

/// Hub handlers are plain async functions, so the state they fill is global.
fn state() -> &'static Arc<Mutex<State>> {
    static STATE: OnceLock<Arc<Mutex<State>>> = OnceLock::new();
    STATE.get_or_init(Default::default)
}

async fn on_note(note: Note) {
    state().lock().unwrap().received.insert(note.id.clone(), note);
}

async fn on_read(change: ReadChange) {
    state().lock().unwrap().reads.push(change);
}

async fn wait_for(pred: impl Fn(&State) -> bool, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if pred(&state().lock().unwrap()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pred(&state().lock().unwrap())
}

#[tokio::main]
async fn main() {
    let mut result = Map::new();
    run(&mut result).await;
    println!("RESULT {}", Value::Object(result));
}

async fn run(result: &mut Map<String, Value>) {
    let mut check = |name: &str, ok: bool, why: String| {
        result.insert(name.into(), if ok { json!(true) } else { json!(why) });
    };
    let hub_url = var("COMPAT_HUB_URL").unwrap();
    let (host_port, path) = hub_url.trim_start_matches("http://").split_once('/').unwrap();
    let (host, port) = host_port.split_once(':').unwrap();
    let token = var("COMPAT_TOKEN").unwrap();
    let ids: HashMap<&str, String> = [("replay", "COMPAT_REPLAY_ID"), ("global", "COMPAT_GLOBAL_ID"), ("user", "COMPAT_USER_ID"), ("group", "COMPAT_GROUP_ID")]
        .into_iter()
        .map(|(k, v)| (k, var(v).unwrap()))
        .collect();
    let hub = Hub::default().method(var("COMPAT_TYPE").unwrap(), on_note).method("EventReadStatusChange", on_read);
    // The bearer token goes only on negotiate; the upgrade (sent without `id`) carries what the query string holds.
    let client = SignalRClient::builder(host)
        .use_port(port.parse().unwrap())
        .use_hub(path)
        .use_unencrypted_connection()
        .use_authentication(Auth::Bearer { token: token.clone() })
        .use_query_string(format!("access_token={token}"))
        .with_client_hub(hub)
        .build()
        .await;
    let client = match client {
        Ok(c) => c,
        Err(e) => return check("connect", false, format!("{e:?}")),
    };
    check("connect", true, String::new());
    let replay = ids["replay"].clone();
    let ok = wait_for(move |s| s.received.contains_key(&replay), Duration::from_secs(5)).await;
    check("replay", ok, "not seen".into());
    let subscribe = |t: i32, v: String| {
        let call = client.method("Subscribe").arg(Audience { audience_type: t, audience_value: v }).unwrap();
        tokio::time::timeout(Duration::from_secs(10), call.invoke_unit())
    };
    match subscribe(3, var("COMPAT_GROUP").unwrap()).await {
        Ok(Ok(())) => check("subscribe", true, String::new()),
        other => check("subscribe", false, format!("{other:?}")),
    }
    match subscribe(2, var("COMPAT_FOREIGN_TENANT").unwrap()).await {
        Ok(Err(e)) => {
            let text = format!("{e:?} {e}");
            check("forbidden", text.contains("HubException: Forbidden"), format!("error {text}"))
        }
        other => check("forbidden", false, format!("{other:?}")),
    }
    println!("READY");
    let live: Vec<String> = ["global", "user", "group"].iter().map(|n| ids[n].clone()).collect();
    wait_for(move |s| live.iter().all(|id| s.received.contains_key(id)), Duration::from_secs(10)).await;
    for n in ["global", "user", "group"] {
        let ok = state().lock().unwrap().received.contains_key(&ids[n]);
        check(n, ok, "not seen".into());
    }
    let user = state().lock().unwrap().received.get(&ids["user"]).cloned();
    if let Some(user) = user {
        let call = client.method("MarkAsRead").arg(user.audience_id.clone()).unwrap().arg(user.id.clone()).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(10), call.invoke_unit()).await;
        let id = user.id.clone();
        let seen = wait_for(move |s| s.reads.iter().any(|r| r.event_id == id && r.is_read), Duration::from_secs(5)).await;
        check("markAsRead", matches!(outcome, Ok(Ok(()))) && seen, format!("{outcome:?}, EventReadStatusChange seen: {seen}"));
    }
}
