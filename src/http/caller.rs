//! [`Caller<R>`], the extractor for "authenticated caller holding right `R`".
//! It authenticates exactly as [`Auth`] does (same security schemes in the
//! OpenAPI document, same 401 and 429 problems) and refuses the request with
//! the 403 of [`Principal::require`] before the handler runs, so a handler
//! that takes a `Caller<R>` only parses, calls and maps.

use std::marker::PhantomData;
use std::ops::Deref;

use poem::{Request, RequestBody};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::auth::principal::Principal;
use crate::auth::rights::Right;
use crate::error::AppResult;
use crate::http::problem::carry;
use crate::http::security::Auth;

/// What a caller must hold to get past a [`Caller`]; implemented by
/// zero-sized markers, one per [`Right`], and by [`Authenticated`].
pub trait Requirement {
    /// `Ok` when `principal` may go on; the 403 to answer otherwise.
    fn check(principal: &Principal) -> AppResult<()>;
}

/// Any authenticated caller, whatever its rights.
pub enum Authenticated {}

impl Requirement for Authenticated {
    fn check(_principal: &Principal) -> AppResult<()> {
        Ok(())
    }
}

// Markers are uninhabited: they exist only as type parameters.
macro_rules! right_markers {
    ($($right:ident),* $(,)?) => {
        $(
            #[doc = concat!("Requires [`Right::", stringify!($right), "`].")]
            pub enum $right {}

            impl Requirement for $right {
                fn check(principal: &Principal) -> AppResult<()> {
                    principal.require(Right::$right)
                }
            }
        )*
    };
}

right_markers!(
    ReadData,
    RunDashboards,
    IngestDetections,
    ManagePlant,
    ManageDashboards,
    ManageTemplates,
    ManageUsers,
    ManageApiKeys,
    ReadAudit,
    ManageSystem,
);

/// The authenticated caller of a request, known to satisfy `R`. Derefs to
/// its [`Principal`].
pub struct Caller<R> {
    principal: Principal,
    // `fn() -> R` keeps `Caller<R>` Send and Sync whatever `R` is.
    requirement: PhantomData<fn() -> R>,
}

impl<R> Caller<R> {
    /// The authenticated principal.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

impl<R> Deref for Caller<R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<'a, R: Requirement> ApiExtractor<'a> for Caller<R> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    // Registration and the security requirements are Auth's own, so the
    // OpenAPI document cannot tell a `Caller<R>` operation from an `Auth` one.
    fn register(registry: &mut Registry) {
        <Auth as ApiExtractor<'a>>::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        <Auth as ApiExtractor<'a>>::security_schemes()
    }

    fn has_security_fallback() -> bool {
        <Auth as ApiExtractor<'a>>::has_security_fallback()
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        // A missing credential fails here exactly as it does for `Auth`.
        let auth = <Auth as ApiExtractor<'a>>::from_request(request, body, param_opts).await?;
        let principal = auth.into_principal().map_err(carry)?;
        R::check(&principal).map_err(carry)?;
        Ok(Caller {
            principal,
            requirement: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::auth::roles::Role;
    use crate::error::AppError;

    fn holding(rights: &[Right]) -> Principal {
        Principal {
            tenant_id: 1,
            user_id: Some(2),
            username: Some("ana".into()),
            api_key_id: None,
            session_id: Some(3),
            owner_id: Some(2),
            role: Role::Viewer,
            rights: rights.iter().copied().collect::<BTreeSet<_>>(),
            rate_limit_per_minute: None,
        }
    }

    type Check = fn(&Principal) -> AppResult<()>;

    /// Each marker with the right it names, covering every right.
    fn markers() -> [(Right, Check); 10] {
        [
            (Right::ReadData, ReadData::check),
            (Right::RunDashboards, RunDashboards::check),
            (Right::IngestDetections, IngestDetections::check),
            (Right::ManagePlant, ManagePlant::check),
            (Right::ManageDashboards, ManageDashboards::check),
            (Right::ManageTemplates, ManageTemplates::check),
            (Right::ManageUsers, ManageUsers::check),
            (Right::ManageApiKeys, ManageApiKeys::check),
            (Right::ReadAudit, ReadAudit::check),
            (Right::ManageSystem, ManageSystem::check),
        ]
    }

    #[test]
    fn every_right_has_a_marker_that_requires_exactly_it() {
        let named: BTreeSet<Right> = markers().iter().map(|(right, _)| *right).collect();
        assert_eq!(named, Right::ALL.into_iter().collect());
        for (right, check) in markers() {
            assert!(check(&holding(&[right])).is_ok(), "{right:?} lets its holder in");
            let others: Vec<Right> = Right::ALL.into_iter().filter(|r| *r != right).collect();
            match check(&holding(&others)) {
                Err(AppError::Forbidden(detail)) => {
                    assert!(detail.contains(&crate::auth::principal::right_name(right)), "{detail}")
                }
                other => panic!("{right:?} without the right: {other:?}"),
            }
        }
    }

    #[test]
    fn authenticated_needs_no_right() {
        assert!(Authenticated::check(&holding(&[])).is_ok());
    }

    #[test]
    fn the_openapi_security_is_that_of_auth() {
        assert_eq!(
            <Caller<ManagePlant> as ApiExtractor>::security_schemes(),
            <Auth as ApiExtractor>::security_schemes()
        );
        assert_eq!(
            <Caller<ReadData> as ApiExtractor>::has_security_fallback(),
            <Auth as ApiExtractor>::has_security_fallback()
        );
        assert_eq!(
            <Caller<Authenticated> as ApiExtractor>::TYPES,
            <Auth as ApiExtractor>::TYPES
        );
    }
}
