//! The usual start of a browser test: tabs of the app spread over two
//! browser processes (two separate sets of WebRTC peers).

use crate::api::Tab;
use crate::browser::{Browser, Chromedriver};
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
    let mut tabs = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        tabs.push(
            browsers[i % 2]
                .open_tab(&name, &server.page_url(&name))
                .await?,
        );
    }
    Ok((browsers, tabs))
}
