//! The grammar of an mOS configuration file, as mOS's `config.c` reads it, in this project's own
//! code. What a line or block means, and which of them mOS skips, follows mOS; where mOS crashes
//! or refuses to start, this is an error naming the line. Skipped lines come back as warnings.
//!
//! The rules, in short (the full account is `docs/mos-compat.md`):
//! - `#` starts a comment anywhere, to the end of the line. Only `\n` ends a line.
//! - A block is a word at the start of a line, then `{` (on that line or a later one), then
//!   everything to the matching `}`. Its lines are read one by one; a line counts only when a
//!   newline ends it inside the block, so text on the line of a closing `}` is ignored.
//! - After a block, reading goes on one character past its `}`.
//! - Blocks mOS does not know are not skipped: their lines are read as the enclosing block's.
//! - Items are `key = value` (spaces optional); numbers are C's `%li`, MAC bytes `%hhx`.

use super::cscan::{inet_addr, is_space, scan_int, scan_long, scan_mac, scan_set, skip_space};
use crate::route::{IpPrefix, Ipv4Prefix, Ipv6Prefix};
use std::net::{Ipv4Addr, Ipv6Addr};

/// One `application { }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct App {
    pub line: usize,
    pub kind: Option<String>,
    pub run: Option<String>,
}

/// What one file holds, each item with its line.
#[derive(Debug, Default, Clone)]
pub(crate) struct Parsed {
    /// The line of the `mos` block, if there is one.
    pub mos_line: Option<usize>,
    pub apps: Vec<App>,
    /// (line, device name, core mask) of the `netdev` block inside `mos`.
    pub netdevs: Vec<(usize, String, u64)>,
    /// OR of every netdev core mask read, inside `mos` or not (mOS counts them all).
    pub cpu_mask: u64,
    pub arp: Vec<(usize, IpPrefix, [u8; 6])>,
    pub routes: Vec<(usize, IpPrefix, String)>,
    pub forward: Vec<(usize, String, String)>,
    /// Which blocks `mos` holds.
    pub has_netdev: bool,
    pub has_arp_table: bool,
    pub has_route_table: bool,
    pub warnings: Vec<(usize, String)>,
}

/// An error: the line and the reason.
pub(crate) type Fatal = (usize, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Top,
    App,
    Mos,
    /// `netdev` inside `mos`, or (orphan) elsewhere.
    Netdev {
        orphan: bool,
    },
    Arp,
    Route,
    Forward,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Top => "the top level",
            Kind::App => "application",
            Kind::Mos => "mos",
            Kind::Netdev { .. } => "netdev",
            Kind::Arp => "arp_table",
            Kind::Route => "route_table",
            Kind::Forward => "nic_forward_table",
        }
    }
}

const KNOWN: [&str; 6] = [
    "application",
    "mos",
    "netdev",
    "arp_table",
    "route_table",
    "nic_forward_table",
];
/// mOS has room for this many `application` blocks.
const MAX_APPS: usize = 10;

/// Parses one file's bytes.
pub(crate) fn parse(text: &[u8]) -> Result<Parsed, Fatal> {
    // Comments become spaces first, as in mOS: braces inside them do not count.
    let mut s = text.to_vec();
    let mut in_comment = false;
    for b in s.iter_mut() {
        match *b {
            b'\n' => in_comment = false,
            b'#' => in_comment = true,
            _ => {}
        }
        if in_comment {
            *b = b' ';
        }
    }
    let line_starts = std::iter::once(0)
        .chain(
            s.iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    // Each `{` with its matching `}`, found once (mOS counts braces from each block's `{`).
    let mut pairs = Vec::new();
    let mut open = Vec::new();
    for (i, &b) in s.iter().enumerate() {
        match b {
            b'{' => open.push(i),
            b'}' => {
                if let Some(o) = open.pop() {
                    pairs.push((o, i));
                }
            }
            _ => {}
        }
    }
    pairs.sort_unstable();
    let mut p = Parser {
        s: &s,
        pairs,
        line_starts,
        out: Parsed::default(),
        seen: Seen::default(),
    };
    p.region(Kind::Top, 0, s.len())?;
    Ok(p.out)
}

/// The lines of the blocks of which mOS has one instance, once used.
#[derive(Default)]
struct Seen {
    arp: Option<usize>,
    route: Option<usize>,
    forward: Option<usize>,
    netdev: Option<usize>,
}

struct Parser<'a> {
    s: &'a [u8],
    /// (`{`, its `}`), sorted.
    pairs: Vec<(usize, usize)>,
    line_starts: Vec<usize>,
    out: Parsed,
    seen: Seen,
}

/// A block found at the start of a line: its name, and where its braces are.
struct Block {
    name: String,
    line: usize,
    open: usize,
    close: usize,
}

impl Parser<'_> {
    /// 1-based line of byte `pos`.
    fn line_no(&self, pos: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= pos)
    }

    fn warn(&mut self, line: usize, text: String) {
        self.out.warnings.push((line, text));
    }

    fn text(&self, from: usize, to: usize) -> String {
        String::from_utf8_lossy(&self.s[from..to]).trim().to_owned()
    }

    /// Reads the lines of `[start, end)` as lines of a `kind` block.
    fn region(&mut self, kind: Kind, start: usize, end: usize) -> Result<(), Fatal> {
        let mut pos = start;
        while pos < end {
            let Some(nl) = self.s[pos..end].iter().position(|&b| b == b'\n').map(|i| pos + i) else {
                let rest = self.text(pos, end);
                if !rest.is_empty() && rest.bytes().any(|b| b != b'{' && b != b'}') {
                    let line = self.line_no(pos);
                    let why = if kind == Kind::Top {
                        "the file's last line has no newline: mOS ignores it"
                    } else {
                        "shares its line with the block's closing `}`: mOS ignores it (put it on a line of its own)"
                    };
                    self.warn(line, format!("`{rest}` {why}"));
                }
                break;
            };
            match self.block_at(pos, end) {
                Some(b) => {
                    // `None`: mOS reads the header of a block it does not take as a line of the
                    // enclosing block, where it never makes an item (`name {` is no `key =`).
                    if let Some(child) = self.child(kind, &b)? {
                        let body = skip_space(self.s, b.open + 1).min(b.close);
                        if let Some(child) = child {
                            self.region(child, body, b.close)?;
                        }
                        pos = (b.close + 2).min(end);
                        continue;
                    }
                }
                None => self.line(kind, pos, nl),
            }
            pos = nl + 1;
        }
        Ok(())
    }

    /// A block starting on the line at `pos`: a word first on the line, then `{` after white
    /// space (new lines included), and a matching `}` before `end`.
    fn block_at(&self, pos: usize, end: usize) -> Option<Block> {
        let s = &self.s[..end];
        let mut at = pos;
        while at < end && s[at] != b'\n' && is_space(s[at]) {
            at += 1;
        }
        if !s.get(at)?.is_ascii_alphabetic() {
            return None;
        }
        let (word, after) = scan_set(s, at, |b| b.is_ascii_alphanumeric() || b == b'_')?;
        let open = skip_space(s, after);
        if s.get(open) != Some(&b'{') {
            return None;
        }
        let i = self.pairs.binary_search_by_key(&open, |&(o, _)| o).ok()?;
        let close = self.pairs[i].1;
        (close < end).then(|| Block {
            name: String::from_utf8_lossy(word).into_owned(),
            line: self.line_no(at),
            open,
            close,
        })
    }

    /// What a block found inside `parent` is: `None` when mOS does not take it as a block (its
    /// lines are then read as `parent`'s), `Some(None)` when it is skipped whole, `Some(kind)`.
    fn child(&mut self, parent: Kind, b: &Block) -> Result<Option<Option<Kind>>, Fatal> {
        let line = b.line;
        let name = b.name.as_str();
        if !KNOWN.contains(&name) {
            self.warn(
                line,
                format!(
                    "`{name}` is not a block mOS knows: its lines are read as part of {}",
                    parent.name()
                ),
            );
            return Ok(None);
        }
        let kind = match (parent, name) {
            (Kind::Top, "mos") => {
                if let Some(first) = self.out.mos_line {
                    self.warn(
                        line,
                        format!("a second `mos` block: mOS reads only the one at line {first}; this one is ignored"),
                    );
                    return Ok(Some(None));
                }
                self.out.mos_line = Some(line);
                Kind::Mos
            }
            (Kind::Top, "application") => {
                if self.out.apps.len() == MAX_APPS {
                    self.warn(
                        line,
                        format!("more than {MAX_APPS} `application` blocks: mOS ignores this one"),
                    );
                    return Ok(Some(None));
                }
                self.out.apps.push(App {
                    line,
                    kind: None,
                    run: None,
                });
                Kind::App
            }
            (Kind::Top, "netdev") => {
                self.warn(
                    line,
                    "`netdev` outside `mos { }`: mOS counts its core masks but uses none of its devices"
                        .into(),
                );
                Kind::Netdev { orphan: true }
            }
            (Kind::Top, _) => {
                return Err((
                    line,
                    format!("`{name}` must be inside `mos {{ }}` (mOS crashes on a file with it outside)"),
                ))
            }
            (Kind::Mos, "netdev") => {
                if let Some(first) = self.seen.netdev.replace(line) {
                    self.warn(
                        line,
                        format!("this `netdev` block replaces the one at line {first}, as in mOS"),
                    );
                    self.out.netdevs.clear();
                }
                self.out.has_netdev = true;
                Kind::Netdev { orphan: false }
            }
            (Kind::Mos, "arp_table") => {
                if !self.first_of(|s| &mut s.arp, name, line) {
                    return Ok(Some(None));
                }
                self.out.has_arp_table = true;
                Kind::Arp
            }
            (Kind::Mos, "route_table") => {
                if !self.first_of(|s| &mut s.route, name, line) {
                    return Ok(Some(None));
                }
                self.out.has_route_table = true;
                Kind::Route
            }
            (Kind::Mos, "nic_forward_table") => {
                if !self.first_of(|s| &mut s.forward, name, line) {
                    return Ok(Some(None));
                }
                Kind::Forward
            }
            (Kind::Mos, "mos") => {
                self.warn(
                    line,
                    "`mos` inside `mos`: mOS has one; its lines are read as the outer block's".into(),
                );
                return Ok(None);
            }
            (parent, _) => {
                return Err((
                    line,
                    format!(
                        "`{name}` inside `{}`: mOS crashes on it (only `mos` holds blocks: netdev, arp_table, route_table, nic_forward_table)",
                        parent.name()
                    ),
                ))
            }
        };
        Ok(Some(Some(kind)))
    }

    /// True for the first block of a kind mOS has one of; a later one is ignored with a warning.
    fn first_of(&mut self, slot: fn(&mut Seen) -> &mut Option<usize>, name: &str, line: usize) -> bool {
        match *slot(&mut self.seen) {
            Some(first) => {
                self.warn(
                    line,
                    format!("a second `{name}` block: mOS reads only the one at line {first}; this one is ignored"),
                );
                false
            }
            None => {
                *slot(&mut self.seen) = Some(line);
                true
            }
        }
    }

    /// One line `[from, to)` of a `kind` block.
    fn line(&mut self, kind: Kind, from: usize, to: usize) {
        let text = self.text(from, to);
        if text.bytes().all(|b| b == b'{' || b == b'}') {
            return;
        }
        let line = self.line_no(from);
        let l = &self.s[from..to];
        match kind {
            // mOS ignores anything outside a block.
            Kind::Top => {}
            Kind::Mos => {
                // mOS's own settings (nb_mem_channels, forward, stat_print, ...) do not concern
                // sending; only their shape is checked.
                if key_value(l).is_none() {
                    self.warn(line, format!("`{text}` is not `key = value`: mOS ignores it"));
                }
            }
            Kind::App => match key_value(l) {
                Some((key, value)) => {
                    let app = self.out.apps.last_mut().expect("inside an application block");
                    // mOS compares keys up to a non-alphanumeric character: `run_x` is `run`.
                    if key_is(key, "type") && value.len() < 20 {
                        app.kind = Some(value.into());
                    } else if key_is(key, "run") && value.len() < 200 {
                        app.run = Some(value.into());
                    }
                }
                None => self.warn(line, format!("`{text}` is not `key = value`: mOS ignores it")),
            },
            Kind::Netdev { orphan } => self.netdev_line(line, l, &text, orphan),
            Kind::Arp => match arp_entry(l) {
                Ok((prefix, mac)) => {
                    self.note_address_form(line, l, prefix);
                    self.out.arp.push((line, prefix, mac));
                }
                Err(why) => self.skip(line, &text, "<ip>/<len> <mac>", why),
            },
            Kind::Route => match route_entry(l) {
                Ok((prefix, dev)) => {
                    self.note_address_form(line, l, prefix);
                    self.out.routes.push((line, prefix, dev));
                }
                Err(why) => self.skip(line, &text, "<ip>/<len> <device>", why),
            },
            Kind::Forward => {
                let at = skip_space(l, 0);
                let pair = scan_set(l, at, device_byte).and_then(|(a, end)| {
                    let at = skip_space(l, end);
                    scan_set(l, at, device_byte).map(|(b, _)| (a, b))
                });
                match pair {
                    Some((a, b)) => {
                        let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
                        self.out.forward.push((line, a.into_owned(), b.into_owned()));
                    }
                    None => self.skip(line, &text, "<device> <device>", None),
                }
            }
        }
    }

    fn skip(&mut self, line: usize, text: &str, want: &str, why: Option<String>) {
        let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
        self.warn(
            line,
            format!("`{text}` is not `{want}`{why}: mOS skips it, so does mtcp_sendpkt"),
        );
    }

    /// Addresses in `inet_addr`'s other forms (`010.1`: octal, short) mean what mOS makes of
    /// them; say so, since the reader of the file may not expect it.
    fn note_address_form(&mut self, line: usize, l: &[u8], prefix: IpPrefix) {
        if matches!(prefix, IpPrefix::V6(_)) {
            return;
        }
        let at = skip_space(l, 0);
        if let Some((addr, _)) = scan_set(l, at, |b| b.is_ascii_digit() || b == b'.') {
            let written = String::from_utf8_lossy(addr);
            if let Some(v) = inet_addr(addr) {
                let read = Ipv4Addr::from(v).to_string();
                if read != written {
                    self.warn(
                        line,
                        format!("`{written}` reads as {read} (inet_addr's octal or short form), as in mOS"),
                    );
                }
            }
        }
    }

    fn netdev_line(&mut self, line: usize, l: &[u8], text: &str, orphan: bool) {
        let at = skip_space(l, 0);
        let parsed = l
            .get(at)
            .filter(|b| b.is_ascii_alphabetic())
            .and_then(|_| scan_set(l, at, |b| b.is_ascii_alphanumeric() || b == b'_'))
            .and_then(|(name, end)| scan_long(l, end).map(|(mask, _)| (name, mask)));
        let Some((name, mask)) = parsed else {
            return self.skip(line, text, "<device> <core mask>", None);
        };
        // A negative mask is all those bits, as in C.
        let mask = mask as u64;
        self.out.cpu_mask |= mask;
        if orphan {
            return;
        }
        let name = String::from_utf8_lossy(name).into_owned();
        if let Some((first, ..)) = self.out.netdevs.iter().find(|(_, n, _)| *n == name) {
            let first = *first;
            return self.warn(
                line,
                format!(
                    "{name} is already listed at line {first}: mOS sends on the first; this line is ignored"
                ),
            );
        }
        self.out.netdevs.push((line, name, mask));
    }
}

/// An ARP line, `%[0-9.]/%d %hhx:%hhx:%hhx:%hhx:%hhx:%hhx` (the same in mTCP's `arp.conf`), or
/// the same with an IPv6 prefix (our extension; mOS skips such a line).
pub(crate) fn arp_entry(l: &[u8]) -> Result<(IpPrefix, [u8; 6]), Option<String>> {
    table_line(l, scan_mac)
}

/// A route line, `%[0-9.]/%d %[^ ^\n^\t]` (the same in mTCP's `route.conf`), or the same with an
/// IPv6 prefix (our extension; mOS skips such a line).
pub(crate) fn route_entry(l: &[u8]) -> Result<(IpPrefix, String), Option<String>> {
    table_line(l, |s, at| {
        scan_set(s, at, device_byte).map(|(d, end)| (String::from_utf8_lossy(d).into_owned(), end))
    })
}

/// `%[^ ^\n^\t]`: the bytes of a device name in mOS's route and nic_forward lines.
fn device_byte(b: u8) -> bool {
    !matches!(b, b' ' | b'^' | b'\n' | b'\t')
}

/// `key = value` as mOS's `ReadItemValue` takes it: a key of letters, digits and `_` starting
/// with a letter, `=`, and a non-empty value trimmed of white space.
fn key_value(l: &[u8]) -> Option<(&str, &str)> {
    let at = skip_space(l, 0);
    if !l.get(at)?.is_ascii_alphabetic() {
        return None;
    }
    let (key, end) = scan_set(l, at, |b| b.is_ascii_alphanumeric() || b == b'_')?;
    let eq = skip_space(l, end);
    if l.get(eq) != Some(&b'=') {
        return None;
    }
    let value = std::str::from_utf8(&l[eq + 1..]).ok()?.trim();
    let key = std::str::from_utf8(key).ok()?;
    (!value.is_empty()).then_some((key, value))
}

/// mOS's key comparison: `name`, then anything but a letter or digit.
fn key_is(key: &str, name: &str) -> bool {
    key.strip_prefix(name)
        .is_some_and(|rest| !rest.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()))
}

/// `%[0-9.]/%d <value>` (an ARP or route line): the prefix and what `value` reads. An address
/// with a `:` is an IPv6 prefix, read in full (`std`'s syntax, no zone) with a length 0 to 128.
fn table_line<T>(
    l: &[u8],
    value: impl Fn(&[u8], usize) -> Option<(T, usize)>,
) -> Result<(IpPrefix, T), Option<String>> {
    let at = skip_space(l, 0);
    if let Some((word, end)) = scan_set(l, at, |b| !is_space(b) && b != b'/') {
        if word.contains(&b':') {
            let written = String::from_utf8_lossy(word);
            let addr: Ipv6Addr = written
                .parse()
                .map_err(|_| Some(format!("{written} is not an IPv6 address")))?;
            if l.get(end) != Some(&b'/') {
                return Err(Some("no `/<len>` after the address".into()));
            }
            let (len, end) = scan_int(l, end + 1).ok_or(None)?;
            let (v, _) = value(l, skip_space(l, end)).ok_or(None)?;
            let prefix = u8::try_from(len)
                .ok()
                .and_then(|len| Ipv6Prefix::new(addr, len))
                .ok_or_else(|| Some(format!("prefix length {len} is not 0 to 128")))?;
            return Ok((prefix.into(), v));
        }
    }
    let (addr, end) = scan_set(l, at, |b| b.is_ascii_digit() || b == b'.').ok_or(None)?;
    if l.get(end) != Some(&b'/') {
        return Err(Some("no `/<len>` after the address".into()));
    }
    let (len, end) = scan_int(l, end + 1).ok_or(None)?;
    let (v, _) = value(l, skip_space(l, end)).ok_or(None)?;
    let written = String::from_utf8_lossy(addr);
    let addr = inet_addr(addr).ok_or_else(|| {
        Some(format!(
            "{written} is not an IPv4 address; mOS would read 255.255.255.255"
        ))
    })?;
    let prefix = u8::try_from(len)
        .ok()
        .and_then(|len| Ipv4Prefix::new(Ipv4Addr::from(addr), len))
        .ok_or_else(|| {
            Some(format!(
                "prefix length {len} is not 0 to 32; mOS's mask for it is undefined"
            ))
        })?;
    Ok((prefix.into(), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Parsed {
        parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }
    fn warned(p: &Parsed, line: usize, needle: &str) -> bool {
        p.warnings.iter().any(|(l, w)| *l == line && w.contains(needle))
    }

    #[test]
    fn keys_with_or_without_spaces_and_prefix_matching() {
        assert_eq!(key_value(b"  forward=0"), Some(("forward", "0")));
        assert_eq!(
            key_value(b"run = ./mybox -c 'a b'  "),
            Some(("run", "./mybox -c 'a b'"))
        );
        assert_eq!(key_value(b"key: v"), None);
        assert_eq!(key_value(b"key-x = v"), None);
        assert_eq!(key_value(b"key ="), None);
        assert!(key_is("run", "run") && key_is("run_x", "run") && !key_is("runx", "run"));
    }

    #[test]
    fn blocks_open_on_the_next_line_and_touch_their_names() {
        let c = p("mos\n{\nnetdev{\n dpdk0 0x3\n}\n}\n");
        assert_eq!(c.netdevs, [(4, "dpdk0".to_string(), 3)]);
    }

    #[test]
    fn the_line_of_a_closing_brace_is_ignored_with_a_warning() {
        let c = p("mos {\n netdev {\n dpdk0 1\n dpdk1 2 }\n route_table { 10.0.0.0/8 dpdk0 }\n}\n");
        assert_eq!(c.netdevs, [(3, "dpdk0".to_string(), 1)]);
        assert!(warned(&c, 4, "closing `}`"), "{:?}", c.warnings);
        assert!(c.routes.is_empty());
        assert!(warned(&c, 5, "closing `}`"), "{:?}", c.warnings);
    }

    #[test]
    fn text_after_a_closing_brace_is_read_as_the_parents() {
        let c = p("mos {\n arp_table {\n } stray words\n}\n");
        assert!(warned(&c, 3, "not `key = value`"), "{:?}", c.warnings);
    }

    #[test]
    fn unknown_blocks_are_read_through() {
        let c = p("wrapper {\nmos {\n extra {\n  netdev {\n  dpdk0 1\n  }\n }\n}\n}\n");
        assert_eq!(c.netdevs.len(), 1);
        assert!(warned(&c, 1, "`wrapper` is not a block"));
        assert!(warned(&c, 3, "`extra` is not a block"));
    }

    #[test]
    fn misplaced_known_blocks_are_errors() {
        for (text, line) in [
            ("arp_table {\n}\nmos {\n}\n", 1),
            ("mos {\n netdev {\n arp_table {\n }\n }\n}\n", 3),
            ("application {\n netdev {\n }\n}\n", 2),
            ("mos {\n application {\n }\n}\n", 2),
        ] {
            let e = parse(text.as_bytes()).expect_err(text);
            assert_eq!(e.0, line, "{text:?}: {e:?}");
            assert!(e.1.contains("mOS crashes"), "{e:?}");
        }
    }

    #[test]
    fn repeated_blocks_as_mos_treats_them() {
        let c = p("mos {\n netdev {\n dpdk0 1\n }\n netdev {\n dpdk1 2\n }\n arp_table {\n }\n arp_table {\n 10.0.0.1/32 1:2:3:4:5:6\n }\n}\nmos {\n}\n");
        assert_eq!(c.netdevs, [(6, "dpdk1".to_string(), 2)]);
        assert_eq!(c.cpu_mask, 3, "both blocks' masks count, as in mOS");
        assert!(c.arp.is_empty());
        assert!(warned(&c, 5, "replaces the one at line 2"));
        assert!(warned(&c, 10, "reads only the one at line 8"), "{:?}", c.warnings);
        assert!(warned(&c, 14, "a second `mos`"), "{:?}", c.warnings);
    }

    #[test]
    fn netdev_masks_are_percent_li() {
        let c = p("mos {\n netdev {\n dpdk0 10\n dpdk1 0x10\n dpdk2 010\n dpdk3 5 trailing\n dpdk4\n eth0.100 0x1\n 9dev 1\n }\n}\n");
        let got: Vec<(String, u64)> = c.netdevs.iter().map(|(_, n, m)| (n.clone(), *m)).collect();
        assert_eq!(
            got,
            [
                ("dpdk0".into(), 10),
                ("dpdk1".into(), 16),
                ("dpdk2".into(), 8),
                ("dpdk3".into(), 5)
            ]
        );
        for line in [7, 8, 9] {
            assert!(warned(&c, line, "mOS skips it"), "{line}: {:?}", c.warnings);
        }
    }

    #[test]
    fn arp_and_route_lines_as_sscanf_reads_them() {
        let c = p("mos {\n arp_table {\n 10.0.0.2/32 2:0:0:0:0:a\n 10.0.0.3 aa:bb:cc:dd:ee:ff\n 10.0.0.4/ 32 1:2:3:4:5:6:7\n 10.0.0.5 / 32 1:2:3:4:5:6\n 10.0.0.300/32 1:2:3:4:5:6\n 10.0.0.6/40 1:2:3:4:5:6\n 010.1/32 1:2:3:4:5:6\n }\n route_table {\n 10.0.2.0 dpdk1\n 10.0.0.0/24dpdk0\n 10.1.0.0/16 dpdk1 extra\n }\n}\n");
        let arp: Vec<(usize, String, [u8; 6])> =
            c.arp.iter().map(|(l, p, m)| (*l, p.to_string(), *m)).collect();
        assert_eq!(
            arp,
            [
                (3, "10.0.0.2/32".into(), [2, 0, 0, 0, 0, 0xa]),
                (5, "10.0.0.4/32".into(), [1, 2, 3, 4, 5, 6]),
                (9, "8.0.0.1/32".into(), [1, 2, 3, 4, 5, 6]),
            ]
        );
        assert!(warned(&c, 4, "no `/<len>`"));
        assert!(warned(&c, 6, "no `/<len>`"));
        assert!(warned(&c, 7, "255.255.255.255"));
        assert!(warned(&c, 8, "prefix length 40"));
        assert!(warned(&c, 9, "reads as 8.0.0.1"));
        let routes: Vec<(usize, String, String)> = c
            .routes
            .iter()
            .map(|(l, p, d)| (*l, p.to_string(), d.clone()))
            .collect();
        assert_eq!(
            routes,
            [
                (13, "10.0.0.0/24".into(), "dpdk0".into()),
                (14, "10.1.0.0/16".into(), "dpdk1".into()),
            ]
        );
        assert!(warned(&c, 12, "mOS skips it"));
    }

    #[test]
    fn comments_anywhere_and_crlf_stays_in_device_names() {
        let c = p("mos { # the { here does not count\n route_table {\n 10.0.0.0/8 dpdk0 # to the core\n 10.1.0.0/16 dpdk1\r\n }\n}\n");
        assert_eq!(c.routes[0].2, "dpdk0");
        assert_eq!(
            c.routes[1].2, "dpdk1\r",
            "as mOS reads it: `\\r` is part of the name"
        );
    }

    #[test]
    fn applications_and_their_run_keys() {
        let c = p("application {\n type = end\n run = epserver -f x\n core_mask = 0x00FF\n}\nmos {\n}\n");
        assert_eq!(
            c.apps,
            [App {
                line: 1,
                kind: Some("end".into()),
                run: Some("epserver -f x".into())
            }]
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn forward_pairs() {
        let c = p("mos {\n nic_forward_table {\t\n dpdk0 dpdk1\n dpdk2\n }\n}\n");
        assert_eq!(c.forward, [(3, "dpdk0".to_string(), "dpdk1".to_string())]);
        assert!(warned(&c, 4, "<device> <device>"));
    }
}
