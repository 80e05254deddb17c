//! The load and timing tools (`loadgen`, `freshness`, `dashbench`) only
//! ever target a server on this machine, and sign in to it like a browser.

/// Fails unless `url` (`http://host[:port]/…`) names a loopback host.
pub fn require(url: &str, tool: &str) -> anyhow::Result<()> {
    let host = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    anyhow::ensure!(
        host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]"),
        "{tool} only targets loopback addresses, not {host}"
    );
    Ok(())
}

/// Signs in at `base` (`http://127.0.0.1:3000`) with the dashboard's form;
/// the `name=value` of the session cookie.
pub async fn sign_in(base: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = client
        .post(format!("{base}/login"))
        .header("origin", base)
        .form(&[("email", email), ("password", password)])
        .send()
        .await?;
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("signing in as {email} at {base} failed"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_this_machine_is_a_target() {
        assert!(super::require("http://127.0.0.1:3000", "t").is_ok());
        assert!(super::require("http://localhost:3000/x", "t").is_ok());
        assert!(super::require("http://[::1]:3000", "t").is_ok());
        assert!(super::require("http://203.0.113.5:3000", "t").is_err());
        assert!(super::require("https://127.0.0.1.evil.test", "t").is_err());
    }
}
