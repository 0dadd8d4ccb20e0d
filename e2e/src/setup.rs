//! The usual start of a browser test: tabs of the app spread over two
//! browser processes (two separate sets of WebRTC peers).

use crate::api::Tab;
use crate::browser::{Browser, Chromedriver, LaunchOpts};
use crate::media::{TONE_A_HZ, TONE_B_HZ};
use crate::server::Server;
use std::sync::Arc;

/// Launches browsers `a` and `b` and opens `n` tabs of `server`'s app,
/// named `<prefix>-<i>`, tab `i` in browser `i mod 2`.
pub async fn two_browsers(
    driver: &Chromedriver,
    server: &Server,
    prefix: &str,
    n: usize,
) -> crate::Result<(Vec<Arc<Browser>>, Vec<Tab>)> {
    let browsers = vec![
        Browser::launch(driver, "a").await?,
        Browser::launch(driver, "b").await?,
    ];
    let tabs = open_tabs(&browsers, server, (prefix, ""), n).await?;
    Ok((browsers, tabs))
}

/// Browsers `a` and `b` with fake camera and microphone, `a` speaking
/// [`TONE_A_HZ`] and `b` [`TONE_B_HZ`].
pub async fn phone_browsers(driver: &Chromedriver) -> crate::Result<Vec<Arc<Browser>>> {
    let tone = |hz| LaunchOpts {
        tone_hz: Some(hz),
        ..LaunchOpts::default()
    };
    Ok(vec![
        Browser::launch_with(driver, "a", tone(TONE_A_HZ)).await?,
        Browser::launch_with(driver, "b", tone(TONE_B_HZ)).await?,
    ])
}

/// [`two_browsers`] with [`phone_browsers`]: `n` tabs that can call each
/// other, even-numbered ones speaking [`TONE_A_HZ`], odd ones [`TONE_B_HZ`].
pub async fn two_phones(
    driver: &Chromedriver,
    server: &Server,
    prefix: &str,
    n: usize,
) -> crate::Result<(Vec<Arc<Browser>>, Vec<Tab>)> {
    two_phones_with(driver, server, prefix, n, "").await
}

/// [`two_phones`] whose pages carry `settings` as well, URL parameters
/// such as `&relay=only`.
pub async fn two_phones_with(
    driver: &Chromedriver,
    server: &Server,
    prefix: &str,
    n: usize,
    settings: &str,
) -> crate::Result<(Vec<Arc<Browser>>, Vec<Tab>)> {
    let browsers = phone_browsers(driver).await?;
    let tabs = open_tabs(&browsers, server, (prefix, settings), n).await?;
    Ok((browsers, tabs))
}

/// Opens `n` tabs named `<prefix>-<i>`, tab `i` in browser `i mod len`,
/// their page URLs ending in `settings`.
async fn open_tabs(
    browsers: &[Arc<Browser>],
    server: &Server,
    (prefix, settings): (&str, &str),
    n: usize,
) -> crate::Result<Vec<Tab>> {
    let mut tabs = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        let browser = &browsers[i % browsers.len()];
        let url = format!("{}{settings}", server.page_url(&name));
        tabs.push(browser.open_tab(&name, &url).await?);
    }
    Ok(tabs)
}
