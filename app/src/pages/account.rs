//! The viewer's account: change the password, and create, list and revoke
//! API tokens for the stats API and the import. The token list is
//! server-rendered; the forms are islands.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::accounts::AccountInfo;
use crate::api::accounts::{get_account, ChangePassword, CreateToken, RevokeToken};
use crate::components::range::StatsFailure;
use crate::pages::sites::{on_success, reload, ActionError};

/// `/account`.
#[component]
pub fn AccountPage() -> impl IntoView {
    let account = Resource::new(|| (), |_| get_account());
    view! {
        <Title text="Account"/>
        <section class="report">
            <h1>"Account"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || account.get().map(|result| match result {
                    Ok(account) => view! { <Tokens account/> }.into_any(),
                    Err(error) => view! { <StatsFailure error/> }.into_any(),
                })}
            </Suspense>
            <section class="panel">
                <h2>"New API token"</h2>
                <p class="muted">"For the stats API and the import: " <code>"Authorization: Bearer <token>"</code> ". It acts as you, on your sites."</p>
                <NewToken/>
            </section>
            <section class="panel">
                <h2>"Change password"</h2>
                <p class="muted">"Signs you out everywhere else."</p>
                <NewPassword/>
            </section>
        </section>
    }
}

#[component]
fn Tokens(account: AccountInfo) -> impl IntoView {
    let none = account.tokens.is_empty();
    let rows = account
        .tokens
        .into_iter()
        .map(|token| {
            view! {
                <tr>
                    <th scope="row">{token.name}</th>
                    <td><code>{token.prefix} "…"</code></td>
                    <td>{token.created}</td>
                    <td>{token.last_used.unwrap_or_else(|| "never".to_owned())}</td>
                    <td><Revoke id=token.id/></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p>"Signed in as " <strong data-testid="account-email">{account.email}</strong></p>
        <section class="panel scroll">
            <h2>"API tokens"</h2>
            {if none {
                view! { <p class="empty" data-testid="tokens">"No API tokens yet: create one below to read the stats API."</p> }.into_any()
            } else {
                view! {
                    <table class="numbers" data-testid="tokens">
                        <thead><tr><th>"Name"</th><th>"Token"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[island]
fn Revoke(id: i64) -> impl IntoView {
    let revoke = ServerAction::<RevokeToken>::new();
    on_success(revoke.value(), |_: &()| reload());
    view! {
        <ActionForm action=revoke>
            <input type="hidden" name="id" value=id.to_string()/>
            <button type="submit" class="danger">"Revoke"</button>
        </ActionForm>
        <ActionError value=revoke.value()/>
    }
}

/// Creates a token and shows it, once.
#[island]
fn NewToken() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    view! {
        <ActionForm action=create attr:class="inline">
            <label>"Name" <input name="name" required maxlength="100" placeholder="reporting script"/></label>
            <button type="submit">"Create token"</button>
        </ActionForm>
        <ActionError value=create.value()/>
        {move || create.value().get().and_then(Result::ok).map(|token| view! {
            <p role="status">"Copy it now; it is not shown again (reload the page to list it):"</p>
            <pre class="snippet" data-testid="new-token"><code>{token}</code></pre>
        })}
    }
}

#[island]
fn NewPassword() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    view! {
        <ActionForm action=change attr:class="stacked">
            <label>"Current password" <input type="password" name="current" autocomplete="current-password" required/></label>
            <label>"New password (at least 10 characters)" <input type="password" name="new" autocomplete="new-password" minlength="10" required/></label>
            <label>"New password again" <input type="password" name="confirm" autocomplete="new-password" minlength="10" required/></label>
            <button type="submit">"Change password"</button>
        </ActionForm>
        <ActionError value=change.value()/>
        {move || matches!(change.value().get(), Some(Ok(()))).then(|| view! { <p class="ok" role="status">"Password changed."</p> })}
    }
}
