//! Real-Time: who is on the store now, carts and checkouts in progress,
//! today's sales, events per minute and a live feed. Rendered with a first
//! snapshot on the server; once its island hydrates, a WebSocket (`/api/live/ws`)
//! pushes a new snapshot about once a second. No polling: if the socket
//! drops, it reconnects and the next snapshot is complete.

use leptos::prelude::*;

use crate::{
    api::stats::get_live,
    components::{figures::Chart, range::report},
    live::LiveSnapshot,
    stats::{count, money},
};

#[component]
pub fn RealtimePage() -> impl IntoView {
    report("Real-Time", get_live, move |snapshot, _| {
        view! { <Live first=snapshot/> }
    })
}

/// The live part of the page, the one island of WASM on it: it starts from
/// the server's snapshot and replaces it with every pushed one.
#[island]
fn Live(first: LiveSnapshot) -> impl IntoView {
    let pushed: RwSignal<Option<LiveSnapshot>> = RwSignal::new(None);
    let link = RwSignal::new(Link::Connecting);
    listen(&first.site, pushed, link);
    let sign_in = format!(
        "/login?next={}",
        crate::stats::encode(&format!("/realtime?site={}", first.site))
    );
    let snap = Memo::new(move |_| pushed.get().unwrap_or_else(|| first.clone()));
    let figure = move |label: &'static str,
                       value: Box<dyn Fn(&LiveSnapshot) -> String + Send + Sync>| {
        let testid = format!("live-{}", label.to_lowercase().replace(' ', "-"));
        view! {
            <div class="kpi" data-testid=testid>
                <span class="kpi-label">{label}</span>
                <span class="kpi-value">{move || value(&snap.get())}</span>
            </div>
        }
    };
    view! {
        <p class="live-status" data-testid="live-status">
            {move || match link.get() {
                Link::Connecting => view! { "○ Connecting…" }.into_any(),
                Link::Live => view! { "● Live" }.into_any(),
                Link::Reconnecting { seconds } => view! {
                    <span class="warn">{format!("○ Reconnecting… these numbers are {seconds} s old")}</span>
                }.into_any(),
                Link::Ended => view! {
                    <span class="error" role="alert">"Your session ended: these numbers are no longer updated. "
                        <a href=sign_in.clone()>"Sign in again"</a>
                    </span>
                }.into_any(),
            }}
            <span class="muted">{move || format!(" · updated {}", snap.get().taken_at)}</span>
        </p>
        <div class="kpis">
            {figure("Visitors now", Box::new(|s| count(s.visitors)))}
            {figure("Active carts", Box::new(|s| count(s.active_carts)))}
            {figure("Checking out", Box::new(|s| count(s.checking_out)))}
            {figure("Purchased", Box::new(|s| count(s.purchased)))}
            {figure("Revenue today", Box::new(|s| money(s.revenue_today, &s.currency)))}
            {figure("Orders today", Box::new(|s| count(s.orders_today)))}
        </div>
        <p class="muted small">
            "Visitors: last 5 minutes. Carts, checkouts and purchases: sessions active in the last 10 minutes."
        </p>
        <div class="panel">
            {move || view! { <Chart svg=snap.get().chart label="Events per minute, last 60 minutes".to_owned() empty="No events in the last 60 minutes."/> }}
        </div>
        <div class="columns">
            <section class="panel">
                <h2>"Last 60 minutes by type"</h2>
                <table class="numbers" data-testid="by-type">
                    <thead><tr><th>"Event"</th><th class="num">"Events"</th></tr></thead>
                    <tbody>
                        {move || {
                            let rows = snap.get().by_type;
                            if rows.is_empty() {
                                return view! {
                                    <tr><td colspan="2" class="empty">"No events in the last 60 minutes."</td></tr>
                                }.into_any();
                            }
                            rows.into_iter().map(|(kind, n)| view! {
                                <tr><td>{kind}</td><td class="num">{count(n)}</td></tr>
                            }).collect_view().into_any()
                        }}
                    </tbody>
                </table>
                <h2>"By source"</h2>
                <table class="numbers" data-testid="by-source">
                    <thead><tr><th>"Source"</th><th class="num">"Events"</th></tr></thead>
                    <tbody>
                        {move || {
                            let s = snap.get();
                            let sum = |f: fn(&crate::live::MinuteRow) -> i64| s.minutes.iter().map(f).sum::<i64>();
                            [("web", sum(|m| m.web)), ("app", sum(|m| m.app)), ("server", sum(|m| m.server))]
                                .into_iter()
                                .map(|(name, n)| view! { <tr><td>{name}</td><td class="num">{count(n)}</td></tr> })
                                .collect_view()
                        }}
                    </tbody>
                </table>
            </section>
            <section class="panel scroll">
                <h2>"Latest events"</h2>
                <table class="numbers" data-testid="feed">
                    <thead><tr><th>"Time"</th><th>"Event"</th><th>"Source"</th><th>"About"</th><th class="num">"Value"</th></tr></thead>
                    <tbody>
                        {move || {
                            let s = snap.get();
                            if s.feed.is_empty() {
                                return view! {
                                    <tr><td colspan="5" class="empty">"No events yet: they appear here as they arrive."</td></tr>
                                }.into_any();
                            }
                            s.feed.into_iter().map(|e| {
                                let value = e.value.map(|v| money(v, &s.currency)).unwrap_or_default();
                                let whole = e.subject.clone();
                                view! {
                                    <tr>
                                        <td>{e.at}</td><td>{e.kind}</td><td>{e.source}</td>
                                        <td class="subject" title=whole>{e.subject}</td><td class="num">{value}</td>
                                    </tr>
                                }
                            }).collect_view().into_any()
                        }}
                    </tbody>
                </table>
            </section>
        </div>
    }
}

/// The socket as the page tells it (the server renders `Connecting`; the
/// others come with the WASM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Link {
    Connecting,
    Live,
    /// Closed; the numbers shown are `seconds` old.
    Reconnecting {
        seconds: u32,
    },
    /// The server ended it (signed out, expired, no longer a member), or
    /// it cannot reopen because nobody is signed in: no more retries.
    Ended,
}

/// The close code the server ends a socket with when its viewer may no
/// longer see it (`live::SESSION_ENDED`).
#[cfg(feature = "hydrate")]
const SESSION_ENDED: u16 = 4401;

/// Opens the socket (in the browser only) and keeps it open while the page
/// is shown: every message replaces the snapshot; a closed socket is
/// reopened after a second, and the page counts how old its numbers get.
/// A socket closed because the session ended is not reopened; nor is one
/// that fails twice running while the server says nobody is signed in.
#[cfg(feature = "hydrate")]
fn listen(site: &str, pushed: RwSignal<Option<LiveSnapshot>>, link: RwSignal<Link>) {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };
    let alive = Arc::new(AtomicBool::new(true));
    let url = {
        let location = window().location();
        let scheme = if location.protocol().ok().as_deref() == Some("https:") {
            "wss"
        } else {
            "ws"
        };
        let host = location.host().unwrap_or_default();
        format!(
            "{scheme}://{host}/api/live/ws?site={}",
            crate::stats::encode(site)
        )
    };
    open(url, pushed, link, alive.clone(), 0);
    // The age of the numbers while the socket is down.
    let ticker = set_interval_with_handle(
        move || {
            if let Link::Reconnecting { seconds } = link.get_untracked() {
                link.set(Link::Reconnecting {
                    seconds: seconds + 1,
                });
            }
        },
        std::time::Duration::from_secs(1),
    )
    .ok();
    on_cleanup(move || {
        alive.store(false, Ordering::Relaxed);
        if let Some(ticker) = ticker {
            ticker.clear();
        }
    });
}

/// `failures`: closes in a row without a message.
#[cfg(feature = "hydrate")]
fn open(
    url: String,
    pushed: RwSignal<Option<LiveSnapshot>>,
    link: RwSignal<Link>,
    alive: std::sync::Arc<std::sync::atomic::AtomicBool>,
    failures: u32,
) {
    use std::sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    };
    use wasm_bindgen::{closure::Closure, JsCast as _};
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    if !alive.load(Ordering::Relaxed) {
        return;
    }
    let Ok(socket) = WebSocket::new(&url) else {
        return;
    };
    let heard = Arc::new(AtomicBool::new(false));
    let heard_here = heard.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(text) = event.data().as_string() {
            if let Ok(snapshot) = serde_json::from_str::<LiveSnapshot>(&text) {
                heard_here.store(true, Ordering::Relaxed);
                link.set(Link::Live);
                pushed.set(Some(snapshot));
            }
        }
    });
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let retry = alive.clone();
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        if event.code() == SESSION_ENDED {
            link.set(Link::Ended);
            return;
        }
        if !matches!(
            link.get_untracked(),
            Link::Reconnecting { .. } | Link::Ended
        ) {
            link.set(Link::Reconnecting { seconds: 0 });
        }
        let failures = if heard.load(Ordering::Relaxed) {
            0
        } else {
            failures + 1
        };
        let (url, retry) = (url.clone(), retry.clone());
        let reopen = move || {
            set_timeout(
                move || open(url, pushed, link, retry, failures),
                std::time::Duration::from_secs(1),
            )
        };
        if failures < 2 {
            reopen();
            return;
        }
        // Refused twice: ask whether anyone is still signed in. A network
        // error (the server restarting) keeps trying.
        leptos::task::spawn_local(async move {
            match crate::api::stats::signed_in().await {
                Err(ServerFnError::Request(_)) | Ok(()) => reopen(),
                Err(_) => link.set(Link::Ended),
            }
        });
    });
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_close.forget();
    // Leaving the page closes the socket; `alive` stops the reconnect.
    let socket = send_wrapper::SendWrapper::new(socket);
    on_cleanup(move || {
        let _ = socket.close();
    });
}

#[cfg(not(feature = "hydrate"))]
fn listen(_site: &str, _pushed: RwSignal<Option<LiveSnapshot>>, _link: RwSignal<Link>) {}
