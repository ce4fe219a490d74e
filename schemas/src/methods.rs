//! The methods of the engine's services, read once from the `.proto` files' descriptors:
//! the one place a method's name comes from. The server names a call by its gRPC path
//! (`/loyalty.v1.CashService/Calculate`) for metrics, logs and request signatures.

use prost::Message;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A method of one of the engine's services.
#[derive(Debug, PartialEq, Eq)]
pub struct Method {
    /// The service's full name, e.g. `loyalty.v1.CashService`.
    pub service: &'static str,
    /// The method's name, e.g. `Calculate`.
    pub name: &'static str,
    /// The gRPC path, e.g. `/loyalty.v1.CashService/Calculate`.
    pub path: &'static str,
}

/// Every method of every service, by gRPC path.
fn all() -> &'static HashMap<&'static str, Method> {
    static ALL: OnceLock<HashMap<&'static str, Method>> = OnceLock::new();
    ALL.get_or_init(|| {
        let set = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET)
            .expect("the compiled-in descriptors decode");
        // Leaked once: a fixed, small set of names that lives as long as the process.
        let keep = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let mut all = HashMap::new();
        for file in &set.file {
            for service in &file.service {
                let full = keep(format!("{}.{}", file.package(), service.name()));
                for m in &service.method {
                    let path = keep(format!("/{full}/{}", m.name()));
                    let name = keep(m.name().to_owned());
                    all.insert(
                        path,
                        Method {
                            service: full,
                            name,
                            path,
                        },
                    );
                }
            }
        }
        all
    })
}

/// The method a gRPC path names, if it is one of the engine's.
pub fn by_path(path: &str) -> Option<&'static Method> {
    all().get(path)
}

/// The methods of one service (`loyalty.v1.CashService`), in no particular order.
pub fn of_service(service: &str) -> impl Iterator<Item = &'static Method> + '_ {
    all().values().filter(move |m| m.service == service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_of_the_protos_is_found_by_its_path() {
        let calc = by_path("/loyalty.v1.CashService/Calculate").expect("Calculate");
        assert_eq!(
            (calc.service, calc.name),
            ("loyalty.v1.CashService", "Calculate")
        );
        assert!(by_path("/loyalty.v1.CashService/Nothing").is_none());
        assert!(by_path("Calculate").is_none());
        // As many as the proto files declare.
        let rpcs = |proto: &str| {
            proto
                .lines()
                .filter(|l| l.trim_start().starts_with("rpc "))
                .count()
        };
        let cash = rpcs(include_str!("../loyalty/v1/cash.proto"));
        let admin = rpcs(include_str!("../loyalty/v1/admin.proto"));
        assert_eq!(of_service("loyalty.v1.CashService").count(), cash);
        assert_eq!(of_service("loyalty.v1.AdminService").count(), admin);
        assert!(cash > 10 && admin > 10);
    }
}
