//! CPU time from `/proc`: the generator's own, and the server's when it runs on this
//! machine — named by `--server-pid`, or found as the process listening on the server's
//! port.

/// CPU time (user + system) a process has used, in seconds, from `/proc/<pid>/stat`
/// (clock ticks of 1/100 s, Linux's `USER_HZ`).
pub(super) fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The process listening on TCP `port` on this machine, if one can be seen: the listening
/// socket's inode from `/proc/net/tcp` (and `tcp6`), then the process holding it.
pub(super) fn listener_pid(port: u16) -> Option<u32> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            text.lines()
                .skip(1)
                .find_map(|row| listening_inode(row, port))
        })?;
    let target = format!("socket:[{inode}]");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|p| {
        let pid: u32 = p.file_name().to_str()?.parse().ok()?;
        let fds = std::fs::read_dir(p.path().join("fd")).ok()?;
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_str() == Some(&target)))
            .then_some(pid)
    })
}

/// A row of `/proc/net/tcp`: the socket's inode if it listens (state `0A`) on `port`.
fn listening_inode(row: &str, port: u16) -> Option<u64> {
    let f: Vec<&str> = row.split_whitespace().collect();
    let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
    (local_port == port && *f.get(3)? == "0A").then(|| f.get(9)?.parse().ok())?
}

/// The report's line of the server's CPU: `cpu` seconds over `secs` of `ops` operations,
/// of which `purchases` purchases (a flow without purchases — reads only — has no figure
/// per purchase).
pub(super) fn server_cpu_line(pid: u32, cpu: f64, secs: f64, ops: u64, purchases: u64) -> String {
    let mut line = format!(
        "server CPU (pid {pid}, /proc): {:.2} cores, {:.1} µs per operation",
        cpu / secs,
        cpu * 1e6 / ops.max(1) as f64
    );
    if purchases > 0 {
        line += &format!(", {:.1} µs per purchase", cpu * 1e6 / purchases as f64);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_given_per_purchase_only_where_there_were_purchases() {
        assert_eq!(
            server_cpu_line(7, 2.0, 10.0, 20_000, 10_000),
            "server CPU (pid 7, /proc): 0.20 cores, 100.0 µs per operation, 200.0 µs per purchase"
        );
        assert_eq!(
            server_cpu_line(7, 2.0, 10.0, 40_000, 0),
            "server CPU (pid 7, /proc): 0.20 cores, 50.0 µs per operation"
        );
    }

    #[test]
    fn a_listening_row_names_its_inode() {
        let row = "   0: 0100007F:C383 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 33912 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inode(row, 0xC383), Some(33912));
        assert_eq!(listening_inode(row, 50051), Some(33912)); // 0xC383
        assert_eq!(listening_inode(row, 50052), None);
        let established = row.replace(" 0A ", " 01 ");
        assert_eq!(listening_inode(&established, 0xC383), None);
    }

    #[test]
    fn this_process_is_found_by_its_listening_port_and_has_a_cpu_time() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(listener_pid(port), Some(std::process::id()));
        assert!(cpu_secs("self").is_some());
    }
}
