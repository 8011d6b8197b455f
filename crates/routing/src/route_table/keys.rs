//! Provider keys of a deployment: used in turn, the next taking over when the provider refuses
//! one (401/403) or rate limits it (429, resting it for its Retry-After). A deployment without
//! keys rests as a whole.

use std::sync::atomic::Ordering::Relaxed;

use super::model::Deployment;

impl Deployment {
    /// The key to use now: the current one unless it is cooling down. `Ok(None)` when the
    /// deployment takes no key; `Err(until)` when every key is cooling until `until`.
    pub(crate) fn key(&self, now: u64) -> Result<Option<usize>, u64> {
        if self.keys.is_empty() {
            let until = self.cooldown_until.load(Relaxed);
            return if until > now { Err(until) } else { Ok(None) };
        }
        let start = self.next_key.load(Relaxed);
        let mut soonest = u64::MAX;
        for k in 0..self.keys.len() {
            let i = (start + k) % self.keys.len();
            let until = self.keys[i].cooldown_until.load(Relaxed);
            if until <= now {
                return Ok(Some(i));
            }
            soonest = soonest.min(until);
        }
        Err(soonest)
    }

    /// Rest key `i` (the deployment itself when it has none) until `until`, and move on to
    /// the next key.
    pub(crate) fn rest_key(&self, i: Option<usize>, until: u64) {
        let Some(i) = i else {
            self.cooldown_until.fetch_max(until, Relaxed);
            return;
        };
        if let Some(k) = self.keys.get(i) {
            k.cooldown_until.fetch_max(until, Relaxed);
            let _ = self
                .next_key
                .compare_exchange(i, (i + 1) % self.keys.len(), Relaxed, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use tollgate_config::Config;

    use crate::route_table::RouteTable;
    use crate::route_table::tests::cfg;

    #[test]
    fn keys_rotate_and_rest() {
        let c = RouteTable::from_config(&cfg()).unwrap();
        let d = &c.get("big").unwrap().deployments[1];
        assert_eq!(d.key(10), Ok(Some(0)));
        d.rest_key(Some(0), 1_000);
        assert_eq!(d.key(10), Ok(Some(1)));
        d.rest_key(Some(1), 2_000);
        assert_eq!(d.key(10), Err(1_000));
        assert_eq!(d.key(1_000), Ok(Some(0)));
        let keyless = RouteTable::from_config(&Config::from_toml("[[providers]]\nname = \"p\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n[[models]]\nname = \"m\"\ndeployments = [{ provider = \"p\", model = \"x\" }]\nprice = { input = \"1\", output = \"1\" }\n").unwrap()).unwrap();
        let d = &keyless.get("m").unwrap().deployments[0];
        assert_eq!(d.key(10), Ok(None));
        d.rest_key(None, 500);
        assert_eq!(d.key(10), Err(500));
        assert_eq!(d.key(500), Ok(None));
    }
}
