//! Authentication and user management: password hashing and policy, users,
//! roles. (Tokens, sessions, API keys and rate limits build on this.)

pub mod password;
pub mod roles;
pub mod secret;
pub mod users;
