//! Who a caller is, as every layer names it: the auth mode that admitted it ([`AuthMode`]) and
//! its verified [`Identity`]. Verifying credentials is `auth`'s; this is only the vocabulary, so
//! the Events access check and the settings can name a caller without depending on `auth`.

pub mod auth_mode;
pub mod identity;

pub use auth_mode::AuthMode;
pub use identity::Identity;
