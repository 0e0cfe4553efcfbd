//! Authentication and user management: password hashing and policy, users,
//! roles. (Tokens, sessions, API keys and rate limits build on this.)

pub mod admin;
pub mod password;
pub mod principal;
pub mod rights;
pub mod roles;
pub mod secret;
pub mod sessions;
pub mod tokens;
pub mod users;
