//! Why the CLI could not talk to the server, in one line with what to try: the innermost cause
//! of a transport error (its chain repeats itself otherwise), and a hint chosen by the error's
//! type, never by its words.

use std::error::Error;
use std::fmt;

use tokio_rustls::rustls;

/// What to try after a failure to reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    None,
    /// Nothing listens there.
    StartServer,
    /// The server's certificate is not one the CLI trusts.
    CaFile,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "",
            Self::StartServer => "; is the server running there? (start it, or pass --url)",
            Self::CaFile => {
                "; the server's certificate is not trusted: pass --ca-file CA.pem (for a local \
                 server, its --tls-self-signed DIR/ca.pem)"
            }
        })
    }
}

/// The innermost cause of `error` and the hint its types call for.
pub fn diagnose(error: &(dyn Error + 'static)) -> (String, Hint) {
    let mut hint = Hint::None;
    let mut innermost = error;
    let mut next = Some(error);
    while let Some(current) = next {
        hint = match hint_of(current) {
            Hint::None => hint,
            found => found,
        };
        innermost = current;
        next = current.source().or_else(|| {
            // An `io::Error` carrying another error (rustls's) does not return it as its source.
            current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn Error + 'static))
        });
    }
    (innermost.to_string(), hint)
}

fn hint_of(error: &(dyn Error + 'static)) -> Hint {
    if let Some(rustls::Error::InvalidCertificate(_)) = error.downcast_ref::<rustls::Error>() {
        return Hint::CaFile;
    }
    match error
        .downcast_ref::<std::io::Error>()
        .map(std::io::Error::kind)
    {
        Some(std::io::ErrorKind::ConnectionRefused) => Hint::StartServer,
        _ => Hint::None,
    }
}
