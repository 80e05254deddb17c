//! The viewer's sites: the list with a form to add one, and each site's
//! settings (name, time zone, currency, allowed domains, price tiers), its
//! tracker snippet and its signing secret. The lists are server-rendered;
//! the forms and the copy button are islands.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::accounts::{SiteSettings, SiteSummary};
use crate::api::accounts::{
    get_site_settings, get_sites, CreateSite, RotateSecret, UpdateSite, CONFIRM_ROTATE,
};
use crate::components::range::StatsFailure;

/// `/sites`.
#[component]
pub fn SitesPage() -> impl IntoView {
    let sites = Resource::new(|| (), |_| get_sites());
    view! {
        <Title text="Sites"/>
        <section class="report">
            <h1>"Sites"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || sites.get().map(|result| match result {
                    Ok(sites) => view! { <SiteList sites/> }.into_any(),
                    Err(error) => view! { <StatsFailure error/> }.into_any(),
                })}
            </Suspense>
            <section class="panel">
                <h2>"Add a site"</h2>
                <AddSite/>
            </section>
        </section>
    }
}

#[component]
fn SiteList(sites: Vec<SiteSummary>) -> impl IntoView {
    if sites.is_empty() {
        return view! { <p class="empty">"No sites yet: add your shop below."</p> }.into_any();
    }
    let rows = sites
        .into_iter()
        .map(|site| {
            let dashboard = format!("/?site={}", site.key);
            let settings = format!("/sites/{}", site.key);
            view! {
                <tr>
                    <th scope="row"><a href=dashboard>{site.name}</a></th>
                    <td><code>{site.key}</code></td>
                    <td>{site.timezone}</td>
                    <td>{site.currency}</td>
                    <td><a href=settings>"Settings"</a></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="panel">
            <table class="numbers" data-testid="sites">
                <thead><tr><th>"Name"</th><th>"Key"</th><th>"Time zone"</th><th>"Currency"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The form that adds a site, then opens its settings.
#[island]
fn AddSite() -> impl IntoView {
    let create = ServerAction::<CreateSite>::new();
    on_success(create.value(), |path: &String| go_to(path));
    view! {
        <ActionForm action=create attr:class="stacked">
            <label>"Key (what the tracker sends)"
                <input name="key" required pattern="[a-z0-9][a-z0-9_\\-]{0,62}" placeholder="myshop"/>
            </label>
            <label>"Name" <input name="name" required maxlength="200" placeholder="My shop"/></label>
            <label>"Time zone" <input name="timezone" required value="UTC"/></label>
            <label>"Currency" <input name="currency" required value="USD" maxlength="3"/></label>
            <button type="submit">"Add site"</button>
        </ActionForm>
        <ActionError value=create.value()/>
    }
}

/// `/sites/:key`; with `?rotate=confirm`, it asks to confirm a new
/// signing secret.
#[component]
pub fn SiteSettingsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || params.with(|p| p.get("key").unwrap_or_default());
    let confirming = move || query.with(|q| q.get("rotate").as_deref() == Some("confirm"));
    let settings = Resource::new(key, get_site_settings);
    view! {
        <Title text="Site settings"/>
        <section class="report">
            <h1>"Site settings"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || settings.get().map(|result| match result {
                    Ok(site) => view! { <SiteSettingsView site confirming=confirming()/> }.into_any(),
                    Err(error) => view! { <StatsFailure error/> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn SiteSettingsView(site: SiteSettings, confirming: bool) -> impl IntoView {
    let heading = format!("{} ({})", site.name, site.key);
    let settings = format!("/sites/{}", site.key);
    // Rotating breaks the shop's backend until it has the new secret: the
    // first button only asks (a GET, which changes nothing), the second
    // one rotates. Both work without JavaScript.
    let rotation = if confirming {
        view! {
            <div role="alert" data-testid="confirm-rotation">
                <p class="error">
                    <strong>"Rotate the signing secret?"</strong>
                    " The current secret stops working within seconds: until the new one is deployed to your shop's backend, every purchase and refund it signs is refused."
                </p>
                <RotateSecretForm key=site.key.clone()/>
                <p><a href=settings>"Cancel"</a></p>
            </div>
        }
        .into_any()
    } else {
        view! {
            <form method="get" action=settings>
                <input type="hidden" name="rotate" value="confirm"/>
                <button type="submit" class="danger">"Rotate the secret…"</button>
            </form>
        }
        .into_any()
    };
    view! {
        <section class="panel">
            <h2>"Tracker snippet"</h2>
            <p class="muted">"Paste this into every page of the shop, before " <code>"</head>"</code> "."</p>
            <pre class="snippet" data-testid="snippet"><code>{site.snippet.clone()}</code></pre>
            <CopyButton text=site.snippet.clone()/>
        </section>
        <section class="panel">
            <h2>{heading}</h2>
            <SiteEditor site=site.clone()/>
        </section>
        <section class="panel">
            <h2>"Signing secret"</h2>
            <p class="muted">"Your shop's backend signs purchases and refunds with it, so they count as verified. Keep it on the server, never in a page."</p>
            <details>
                <summary>"Show the secret"</summary>
                <code class="secret" data-testid="signing-secret">{site.signing_secret}</code>
            </details>
            {rotation}
        </section>
    }
}

/// Puts the snippet on the clipboard.
#[island]
fn CopyButton(text: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        copy_text(&text);
        copied.set(true);
    };
    view! {
        <button type="button" data-testid="copy-snippet" on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy snippet" }}
        </button>
    }
}

#[island]
fn SiteEditor(site: SiteSettings) -> impl IntoView {
    let update = ServerAction::<UpdateSite>::new();
    view! {
        <ActionForm action=update attr:class="stacked">
            <input type="hidden" name="site" value=site.key/>
            <label>"Name" <input name="name" required maxlength="200" value=site.name/></label>
            <label>"Time zone (IANA, e.g. Europe/Berlin)" <input name="timezone" required value=site.timezone/></label>
            <p class="muted small">"A new time zone recomputes every report's hours and days from the stored events, in the new zone, when you save (a big shop's history takes a while)."</p>
            <label>"Currency (ISO 4217)" <input name="currency" required maxlength="3" value=site.currency/></label>
            <p class="muted small" data-testid="currency-note">"Reports count orders in this currency only; nothing is converted. After a change, earlier orders in the old currency no longer show (they stay stored, and show again if you change back)."</p>
            <label class="check"><input type="checkbox" name="confirm_currency" value="yes"/>" Change the currency anyway, hiding earlier revenue"</label>
            <label>"Allowed domains (one per line; empty allows any)"
                <textarea name="domains" rows="3">{site.domains.join("\n")}</textarea>
            </label>
            <button type="submit">"Save"</button>
        </ActionForm>
        <ActionError value=update.value()/>
        {move || matches!(update.value().get(), Some(Ok(()))).then(|| view! { <p class="ok" role="status">"Saved."</p> })}
    }
}

/// The confirming button: a new signing secret, then the settings page
/// again to show it.
#[island]
fn RotateSecretForm(key: String) -> impl IntoView {
    let rotate = ServerAction::<RotateSecret>::new();
    on_success(rotate.value(), |path: &String| go_to(path));
    view! {
        <ActionForm action=rotate>
            <input type="hidden" name="site" value=key/>
            <input type="hidden" name="confirm" value=CONFIRM_ROTATE/>
            <button type="submit" class="danger">"Yes, rotate the secret"</button>
        </ActionForm>
        <ActionError value=rotate.value()/>
    }
}

/// The error of the last submission of a form, if it failed.
#[component]
pub fn ActionError<T: Send + Sync + 'static>(
    value: MappedSignal<Option<Result<T, ServerFnError>>>,
) -> impl IntoView {
    move || {
        value.with(|v| match v {
            Some(Err(error)) => {
                let message = match error {
                    ServerFnError::ServerError(message) => message.clone(),
                    other => other.to_string(),
                };
                Some(view! { <p class="error" role="alert">{message}</p> })
            }
            _ => None,
        })
    }
}

/// Runs `then` in the browser when the action's last submission succeeded.
pub fn on_success<T: Clone + Send + Sync + 'static>(
    value: MappedSignal<Option<Result<T, ServerFnError>>>,
    then: impl Fn(&T) + 'static,
) {
    Effect::new(move |_| {
        if let Some(Ok(done)) = value.get() {
            then(&done);
        }
    });
}

/// Loads the page again: its server-rendered parts show the change.
pub fn reload() {
    let _ = window().location().reload();
}

pub fn go_to(path: &str) {
    let _ = window().location().set_href(path);
}

/// Puts `text` on the clipboard (in the browser; nothing on the server).
fn copy_text(text: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}
