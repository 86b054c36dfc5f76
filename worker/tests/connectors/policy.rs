//! The address rules of the network guard: which ranges are refused by default, what the
//! allow-list lets through, and what the refusal messages say.

use worker::net::{Blocked, NetPolicy};

fn refused(policy: &NetPolicy, ip: &str) -> bool {
    policy.check_ip(ip.parse().expect("test address")).is_err()
}

#[test]
fn refuses_internal_ranges_by_default() {
    let p = NetPolicy::default();
    for ip in [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.0.1",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "0.1.2.3",
        "255.255.255.255",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::10.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:a00:1::1",
    ] {
        assert!(refused(&p, ip), "{ip} should be refused");
    }
    for ip in [
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "1.1.1.1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
    ] {
        assert!(!refused(&p, ip), "{ip} should be allowed");
    }
}

#[test]
fn messages_say_what_and_why() {
    let p = NetPolicy::default();
    let e = p
        .check_url("http://169.254.169.254/latest/meta-data/")
        .expect_err("metadata refused");
    assert_eq!(
        e,
        "169.254.169.254 is link-local (cloud metadata); allow it in [execution] \
         outbound_allow if intended"
    );
    let e = p
        .check_url("https://10.0.0.1/")
        .expect_err("private refused");
    assert!(e.contains("10.0.0.1 is private"), "{e}");
    let e = p
        .check_url("http://[::ffff:a00:1]/")
        .expect_err("mapped refused");
    assert!(e.contains("IPv6 form"), "{e}");
    let e = p.check_url("ftp://example.com/").expect_err("scheme");
    assert!(e.contains("ftp"), "{e}");
    assert!(p.check_url("https://example.com/hook").is_ok());
    // Odd spellings of loopback are normalised by the URL parser.
    assert!(p.check_url("http://2130706433/").is_err());
    assert!(p.check_url("http://0x7f.1/").is_err());
}

#[test]
fn allow_list_takes_ips_and_cidrs() {
    let p = NetPolicy::new(&["127.0.0.1".into(), "10.0.0.0/8".into(), "::1".into()])
        .expect("valid list");
    assert!(!refused(&p, "127.0.0.1"));
    assert!(refused(&p, "127.0.0.2"));
    assert!(!refused(&p, "10.200.0.1"));
    assert!(!refused(&p, "::ffff:10.1.1.1"));
    assert!(!refused(&p, "::1"));
    assert!(refused(&p, "169.254.169.254"));
    let err = NetPolicy::new(&["10.0.0.0/8".into(), "intranet".into()]).expect_err("bad");
    assert!(err.contains("`intranet`"), "{err}");
    assert!(NetPolicy::new(&["10.0.0.0/33".into()]).is_err());
    assert!(NetPolicy::new(&["0.0.0.0/0".into()]).is_ok());
}

#[tokio::test]
async fn resolution_is_checked() {
    let p = NetPolicy::default();
    match p.resolve("localhost", 80).await {
        Err(Blocked::Refused(r)) => assert!(r.0.contains("loopback"), "{r}"),
        other => panic!("localhost must be refused, got {other:?}"),
    }
    let open = NetPolicy::new(&["127.0.0.0/8".into(), "::1".into()]).expect("valid");
    let addrs = open
        .resolve_checked("localhost", 80)
        .await
        .expect("allowed");
    assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
    let err = p.resolve_checked("[::1]", 5432).await.expect_err("literal");
    assert!(err.contains("::1 is loopback"), "{err}");
}
