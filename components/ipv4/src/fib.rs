//! The forwarding information base: routes chosen by longest prefix match, then lowest metric
//! (RFC 1812 §5.2.4.3's "longest match", as Linux's FIB does it).

use netstack_wire::{Ipv4Address, Ipv4Cidr};

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The destination network (host bits zero).
    pub destination: Ipv4Cidr,
    /// The gateway, or `None` for a connected network.
    pub gateway: Option<Ipv4Address>,
    /// The interface.
    pub ifindex: u32,
    /// Preference among equal prefixes; lower wins.
    pub metric: u32,
}

/// Why a route change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// A route with this destination and metric exists.
    Exists,
    /// No such route.
    NotFound,
    /// The destination has host bits set, or the gateway is unspecified or a broadcast.
    Invalid,
}

/// The routing table, kept sorted most specific first, then by metric, so the first match wins.
#[derive(Debug, Clone, Default)]
pub struct Fib {
    routes: Vec<Route>,
}

impl Fib {
    /// Adds a route.
    pub fn add(&mut self, route: Route) -> Result<(), RouteError> {
        if route.destination.network() != route.destination
            || route
                .gateway
                .is_some_and(|g| g.is_unspecified() || g.is_broadcast())
        {
            return Err(RouteError::Invalid);
        }
        if self
            .routes
            .iter()
            .any(|r| r.destination == route.destination && r.metric == route.metric)
        {
            return Err(RouteError::Exists);
        }
        let key = |r: &Route| (core::cmp::Reverse(r.destination.prefix_len()), r.metric);
        let at = self.routes.partition_point(|r| key(r) <= key(&route));
        self.routes.insert(at, route);
        Ok(())
    }

    /// Removes the route with this destination and metric.
    pub fn remove(&mut self, destination: Ipv4Cidr, metric: u32) -> Result<Route, RouteError> {
        let at = self
            .routes
            .iter()
            .position(|r| r.destination == destination && r.metric == metric)
            .ok_or(RouteError::NotFound)?;
        Ok(self.routes.remove(at))
    }

    /// The best route to `dst`.
    pub fn lookup(&self, dst: Ipv4Address) -> Option<&Route> {
        self.routes.iter().find(|r| r.destination.contains(dst))
    }

    /// Every route, most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}
