//! Session timers (RFC 4028), behind the `session-timer` feature: asked for
//! on our INVITEs with `Config::session_expires`, answered where a caller
//! asks (422 + Min-SE if too brief), refreshed with a re-INVITE by whoever
//! refreshes, and a BYE when a refresh does not come.
//!
//! The rest of the user agent calls in here at the points of a call where a
//! timer is negotiated, started or refreshed; without the feature those
//! calls are compiled out and the settings are ignored.

use super::*;

/// The refresher named in a Session-Expires of a re-INVITE (`answering`
/// false) or of our 2xx to one (`answering` true), kept as it was
/// negotiated: in terms of the call's original INVITE, and swapped in an
/// answer, where the other side is the re-INVITE's UAC.
fn refresher(s: &session::Session, outgoing: bool, answering: bool) -> session::Refresher {
    if (s.we_refresh == outgoing) != answering {
        session::Refresher::Uac
    } else {
        session::Refresher::Uas
    }
}

fn session_expires(interval: Duration, refresher: session::Refresher) -> String {
    SessionExpires {
        interval,
        refresher: Some(refresher),
    }
    .to_string()
}

impl<A: Clone + Ord + core::fmt::Debug> UserAgent<A> {
    /// The Session-Expires of a re-INVITE of ours on `call` (`answering`
    /// false), or of our 2xx to the other side's (true), if the call has a
    /// session timer.
    pub(super) fn reinvite_session_expires(&self, call: CallId, answering: bool) -> Option<String> {
        let c = self.calls.get(&call)?;
        let s = c.session?;
        Some(session_expires(
            s.interval,
            refresher(&s, c.outgoing, answering),
        ))
    }

    /// What to answer a new INVITE's Session-Expires with: `Err(())` once
    /// it has been refused 422 (the interval was below our Min-SE).
    pub(super) fn negotiate_session(
        &mut self,
        n: u64,
        request: &Request,
        now: Time,
    ) -> Result<Option<session::Accepted>, ()> {
        let requested = request
            .headers
            .typed::<SessionExpires>()
            .and_then(Result::ok);
        if requested.is_none() {
            return Ok(None);
        }
        let supports = msg::has_token(&request.headers, &HeaderName::Supported, "timer");
        let min_se = request
            .headers
            .typed::<session::MinSe>()
            .and_then(Result::ok)
            .map(|m| m.0);
        match session::answer(supports, requested, min_se, self.config.min_se) {
            session::Answer::TooBrief(floor) => {
                self.respond_status(
                    n,
                    422,
                    &[(HeaderName::MinSe, floor.as_secs().to_string())],
                    now,
                );
                Err(())
            }
            session::Answer::Accept(acc) => Ok(Some(acc)),
            session::Answer::None => Ok(None),
        }
    }

    /// Session-Expires (and Require: timer if the caller needs it) on our
    /// 2xx to an INVITE whose timer we accepted.
    pub(super) fn add_session_answer(&self, call: CallId, response: &mut Response) {
        let Some(acc) = self.calls.get(&call).and_then(|c| c.session_answer) else {
            return;
        };
        add_header(
            &mut response.headers,
            HeaderName::SessionExpires,
            session_expires(acc.interval, acc.refresher),
        );
        if acc.require {
            add_header(&mut response.headers, HeaderName::Require, "timer");
        }
    }

    /// The caller's ACK confirmed a call we answered: the timer we accepted runs.
    pub(super) fn start_answered_session(&mut self, call: CallId, now: Time) {
        if let Some(c) = self.calls.get_mut(&call) {
            if let Some(acc) = c.session_answer {
                c.session = Some(session::Session {
                    interval: acc.interval,
                    we_refresh: acc.refresher == session::Refresher::Uas,
                });
            }
        }
        self.arm_session(call, now);
    }

    /// Our call was answered: the timer the 2xx settled on (if any) runs.
    pub(super) fn start_answering_session(&mut self, call: CallId, response: &Response, now: Time) {
        let asked = self.config.session_expires;
        if let Some(c) = self.calls.get_mut(&call) {
            let se = response
                .headers
                .typed::<SessionExpires>()
                .and_then(Result::ok);
            c.session = session::adopt(se, asked);
        }
        self.arm_session(call, now);
    }

    /// A 2xx to our re-INVITE: its interval (if it names one) holds from now.
    pub(super) fn refresh_session(&mut self, call: CallId, response: &Response, now: Time) {
        if let Some(se) = response
            .headers
            .typed::<SessionExpires>()
            .and_then(Result::ok)
        {
            if let Some(s) = self.calls.get_mut(&call).and_then(|c| c.session.as_mut()) {
                s.interval = se.interval;
            }
        }
        self.arm_session(call, now);
    }

    pub(super) fn arm_session(&mut self, call: CallId, now: Time) {
        if let Some(s) = self.calls.get(&call).and_then(|c| c.session) {
            self.arm(Slot::Call(call, CallTimer::Session), now + s.act_after());
        }
    }

    /// The session timer fired: refresh if we are the refresher, else the
    /// other side is gone.
    pub(super) fn session_timer(&mut self, call: CallId, now: Time) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(s) = c.session else { return };
        if c.state != CallState::Confirmed {
            return;
        }
        if s.we_refresh {
            if c.reinvite_out.is_some() || c.reinvite_in.is_some() {
                // Busy: try again shortly.
                self.arm(
                    Slot::Call(call, CallTimer::Session),
                    now + Duration::from_secs(1),
                );
            } else {
                let offer = c.local_sdp.clone().unwrap_or_default();
                self.send_reinvite(call, offer, true, now);
            }
        } else {
            self.send_bye(call, now);
            self.end(call, EndReason::Failed(Failure::SessionExpired), now);
        }
    }
}
