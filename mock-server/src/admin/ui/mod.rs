//! The dashboard at `/__admin/ui`: server-rendered pages over the control
//! API, for QA who would rather look than read JSON. Behind the control
//! API's guard (every route here is a control route, and a form of these
//! pages may post from their own origin: `admin_guard::UI_PREFIX`); each page reads the
//! state through the control API's own handlers, so a page shows exactly
//! what the JSON answer says. Forms work without JavaScript (POST, then a
//! 303 back to the page); the only script asks [`live`]'s event stream
//! when something changed and refetches the page's live region.
//!
//! One file a page: [`jobs`] (the list and a job's page with its
//! timeline), [`notifications`], [`deliveries`] (with redelivery),
//! [`journal`], [`scenarios`] (with the switch), [`clock`]; [`page`] holds
//! the templates and what every page shares; [`assets`] the CSS and script.

mod assets;
mod clock;
mod deliveries;
mod jobs;
mod journal;
mod live;
mod notifications;
mod page;
mod scenarios;
mod timeline;

use axum::http::Method;
use axum::routing::{get, post};

use crate::http::Routes;

/// Adds the dashboard's routes.
pub fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "/__admin/ui", get(jobs::list))
        .add(Method::GET, "/__admin/ui/jobs/{id}", get(jobs::show))
        .add(Method::GET, "/__admin/ui/notifications", get(notifications::page))
        .add(Method::GET, "/__admin/ui/deliveries", get(deliveries::page))
        .add(
            Method::POST,
            "/__admin/ui/deliveries/{id}/redeliver",
            post(deliveries::redeliver),
        )
        .add(Method::GET, "/__admin/ui/journal", get(journal::page))
        .add(Method::GET, "/__admin/ui/scenarios", get(scenarios::page))
        .add(Method::POST, "/__admin/ui/scenarios", post(scenarios::switch))
        .add(Method::GET, "/__admin/ui/clock", get(clock::page))
        .add(Method::POST, "/__admin/ui/clock", post(clock::move_it))
        .add(Method::GET, "/__admin/ui/live", get(live::stream))
        .add(Method::GET, "/__admin/ui/style.css", get(assets::style))
        .add(Method::GET, "/__admin/ui/live.js", get(assets::script))
}
