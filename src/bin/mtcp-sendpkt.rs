//! `mtcp-sendpkt`: checks an mOS deployment's configuration as libmtcp_sendpkt reads it (see
//! `man 1 mtcp-sendpkt`).

fn main() {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let status = mtcp_sendpkt::cli::run(std::env::args_os().skip(1).collect(), &mut out, &mut err);
    std::process::exit(status);
}
