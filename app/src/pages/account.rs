//! The viewer's account: change the password, and create, list and revoke
//! API tokens for the stats API and the import.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::accounts::AccountInfo;
use crate::api::accounts::{get_account, ChangePassword, CreateToken, RevokeToken};
use crate::components::range::StatsFailure;
use crate::pages::sites::ActionError;

/// `/account`.
#[component]
pub fn AccountPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let change = ServerAction::<ChangePassword>::new();
    let account = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| get_account(),
    );
    view! {
        <Title text="Account"/>
        <section class="report">
            <h1>"Account"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || account.get().map(|result| match result {
                    Ok(account) => view! { <Tokens account revoke/> }.into_any(),
                    Err(error) => view! { <StatsFailure error/> }.into_any(),
                })}
            </Transition>
            <section class="panel">
                <h2>"New API token"</h2>
                <p class="muted">"For the stats API and the import: " <code>"Authorization: Bearer <token>"</code> ". It acts as you, on your sites."</p>
                <ActionForm action=create attr:class="inline">
                    <label>"Name" <input name="name" required maxlength="100" placeholder="reporting script"/></label>
                    <button type="submit">"Create token"</button>
                </ActionForm>
                <ActionError value=create.value()/>
                {move || create.value().get().and_then(Result::ok).map(|token| view! {
                    <p role="status">"Copy it now; it is not shown again:"</p>
                    <pre class="snippet" data-testid="new-token"><code>{token}</code></pre>
                })}
            </section>
            <section class="panel">
                <h2>"Change password"</h2>
                <p class="muted">"Signs you out everywhere else."</p>
                <ActionForm action=change attr:class="stacked">
                    <label>"Current password" <input type="password" name="current" autocomplete="current-password" required/></label>
                    <label>"New password (at least 10 characters)" <input type="password" name="new" autocomplete="new-password" minlength="10" required/></label>
                    <label>"New password again" <input type="password" name="confirm" autocomplete="new-password" minlength="10" required/></label>
                    <button type="submit">"Change password"</button>
                </ActionForm>
                <ActionError value=change.value()/>
                {move || matches!(change.value().get(), Some(Ok(()))).then(|| view! { <p class="ok" role="status">"Password changed."</p> })}
            </section>
        </section>
    }
}

#[component]
fn Tokens(account: AccountInfo, revoke: ServerAction<RevokeToken>) -> impl IntoView {
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
                    <td>
                        <ActionForm action=revoke>
                            <input type="hidden" name="id" value=token.id.to_string()/>
                            <button type="submit" class="danger">"Revoke"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p>"Signed in as " <strong data-testid="account-email">{account.email}</strong></p>
        <section class="panel scroll">
            <h2>"API tokens"</h2>
            <table class="numbers" data-testid="tokens">
                <thead><tr><th>"Name"</th><th>"Token"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}
