//! Sign-in and first-start setup: plain forms that post to the server's
//! account routes, so they work before (and without) the WASM.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/login`: email and password; after a failed attempt the server
/// redirects back with `?failed=…`, shown here as one message that never
/// says whether the email has an account.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next").unwrap_or_else(|| "/".to_owned()));
    let failure = move || {
        query.with(|q| {
            q.get("failed").map(|code| match code.as_str() {
                "limited" => "Too many sign-in attempts. Wait a minute and try again.",
                "busy" => "The server is busy. Try again in a moment.",
                _ => "Wrong email or password.",
            })
        })
    };
    view! {
        <Title text="Sign in"/>
        <section class="auth panel">
            <h1>"Sign in"</h1>
            {move || failure().map(|message| view! { <p class="error" role="alert" data-testid="login-error">{message}</p> })}
            <form method="post" action="/login" class="stacked">
                <input type="hidden" name="next" value=next/>
                <label>"Email" <input type="email" name="email" autocomplete="username" required autofocus/></label>
                <label>"Password" <input type="password" name="password" autocomplete="current-password" required/></label>
                <button type="submit">"Sign in"</button>
            </form>
        </section>
    }
}

/// `/setup?token=…`: the first user, with the link the server printed at
/// its first start.
#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.with(|q| q.get("token").unwrap_or_default());
    let failure = move || query.with(|q| q.get("failed"));
    view! {
        <Title text="Set up Storepulse"/>
        <section class="auth panel">
            <h1>"Create the first account"</h1>
            <p class="muted">"This account sees every site on this server and can add more."</p>
            {move || failure().map(|message| view! { <p class="error" role="alert">{message}</p> })}
            <form method="post" action="/setup" class="stacked">
                <input type="hidden" name="token" value=token/>
                <label>"Email" <input type="email" name="email" autocomplete="username" required/></label>
                <label>"Password (at least 10 characters)"
                    <input type="password" name="password" autocomplete="new-password" minlength="10" required/>
                </label>
                <button type="submit">"Create account"</button>
            </form>
        </section>
    }
}
