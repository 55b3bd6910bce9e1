//! Segment event + settings → `_hsq` commands. Pure functions: no browser, no clock; the traits or
//! properties being mapped are taken by value (their text moves into the commands). The three profiles are presets of one [`Knobs`] table (device-mode spec, section 6);
//! no profile has a code path of its own.

mod flatten;
mod identify;
mod page;
mod track;

pub use flatten::{Arrays, Dates, FlattenRules, Objects, flatten_properties};
pub use identify::{
    ReservedTrait, address_trait, company_trait, contact_names, find_email, is_reserved_trait,
    map_identify,
};
pub use page::page_path;
pub use track::{MAX_EVENT_PROPERTIES, custom_event_name, map_track};

use crate::settings::Profile;
use crate::text::KeyStyle;

/// How each call maps, per profile. One row of the spec's section 6 table per field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Which HubSpot script to load and how forms are sequenced.
    pub scripts: ScriptStyle,
    /// What a page before HubSpot has loaded pushes (the first one; later ones are held).
    pub first_page: FirstPage,
    /// Where `setPath` comes from on a page.
    pub page_path: PagePath,
    /// Identify traits: keys, nesting, dates, nulls.
    pub traits: FlattenRules,
    /// Company and address traits.
    pub reserved_traits: ReservedTraits,
    /// First and last names: copied to `firstname`/`lastname` or not, and which name traits are
    /// still sent under their own keys.
    pub names: Names,
    /// The track command's shape.
    pub track: TrackStyle,
    /// Track properties: keys, nesting, dates, nulls.
    pub properties: FlattenRules,
    /// Keep at most this many event properties (HubSpot's limit is [`MAX_EVENT_PROPERTIES`]).
    pub property_cap: Option<usize>,
    /// A track whose `context.traits` has an email pushes an identify first, if none was sent.
    pub identify_from_context_traits: bool,
    /// Calls wait in the machine until HubSpot's tracker is ready instead of going onto `_hsq`
    /// while its script loads, so a script that fails receives none of them. Classic queues
    /// every call until the script's `load` event, which a failed load never fires. Pages keep
    /// their own rule ([`FirstPage`]; later ones wait anyway).
    pub hold_until_ready: bool,
}

/// Which script tags to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptStyle {
    /// `js.hs-scripts.com/<id>.js` (`#hs-script-loader`); forms `v2.js` in parallel; EU-aware.
    LoaderFormsParallel,
    /// `js.hs-analytics.net/analytics/<cacheBuster>/<id>.js` (`#hs-analytics`); forms
    /// `shell.js` first (no EU variant), tracking when it settles.
    ClassicFormsFirst,
    /// Loader as the default; forms `v2.js` once tracking settles.
    LoaderFormsAfter,
}

/// What a page before load pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstPage {
    /// `setPath` only: HubSpot's automatic page view records it.
    SetPathOnly,
    /// Nothing: the automatic page view covers it (classic's `assumesPageview`).
    Nothing,
    /// `setPath` (if a path is known) and `trackPageView` (actions; counts the landing twice).
    SetPathAndView,
}

/// Where a page's `setPath` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagePath {
    /// `context.page.path` (else `properties.path`) plus `search`.
    PathWithSearch,
    /// `context.page.path` (else `properties.path`) alone.
    PathOnly,
    /// Never `setPath`.
    None,
}

/// How `company` and `address` traits are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedTraits {
    /// Company: a string is kept, an object gives its `name`. Address: object fields mapped to
    /// HubSpot's (`street`→`address`, `postalCode`→`zip` as a string), a string kept.
    Mapped,
    /// Classic: `company.name` → `company` (an object without a name stays nested); `address`
    /// sent as it came, an object nested (HubSpot ignores it).
    Classic,
    /// Actions: only `company.name` and the address fields; a string company or address is
    /// dropped.
    FieldsOnly,
}

/// How first and last names reach HubSpot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Names {
    /// `firstName`/`first_name` → `firstname`, `lastName`/`last_name` → `lastname`; `name` split
    /// when both are absent. The name traits read are not also sent under their own keys.
    Mapped,
    /// As [`Names::Mapped`], but `first_name` and `last_name` are also sent as they came:
    /// classic's `Identify#traits({firstName, lastName})` finds them case- and
    /// separator-insensitively, yet deletes only the exact `firstName`/`lastName` keys.
    MappedKeepingSnakeCase,
    /// Not read: every trait is sent under its own key (actions).
    AsSent,
}

/// Shape of the track command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackStyle {
    /// `['trackCustomBehavioralEvent', {name, properties}]`; `pe<id>_` names per the setting.
    CustomBehavioralEvent,
    /// `['trackEvent', event, {...props, id: event}]` with `id`→`_id`, revenue→`value`.
    ClassicEvent,
}

impl Knobs {
    /// The preset for a profile.
    pub fn for_profile(profile: Profile) -> Knobs {
        // A table read, not a struct built per arm: the presets are data in the wasm, not code.
        PROFILE_KNOBS[profile as usize]
    }
}

/// Flattened rules: nested objects become `a_b` keys.
const fn flattened(keys: KeyStyle, arrays: Arrays, dates: Dates, drop_null: bool) -> FlattenRules {
    FlattenRules {
        keys,
        objects: Objects::Flatten,
        arrays,
        dates,
        drop_null,
    }
}

/// Classic's rules: objects and arrays left nested.
const fn nested(keys: KeyStyle) -> FlattenRules {
    FlattenRules {
        keys,
        objects: Objects::Keep,
        arrays: Arrays::Keep,
        dates: Dates::EpochMs,
        drop_null: false,
    }
}

/// The presets, in the order of [`Profile`]'s variants.
const PROFILE_KNOBS: [Knobs; 3] = [
    // Profile::Default
    Knobs {
        scripts: ScriptStyle::LoaderFormsParallel,
        first_page: FirstPage::SetPathOnly,
        page_path: PagePath::PathWithSearch,
        traits: flattened(KeyStyle::PerChar, Arrays::Join, Dates::EpochMs, true),
        reserved_traits: ReservedTraits::Mapped,
        names: Names::Mapped,
        track: TrackStyle::CustomBehavioralEvent,
        properties: flattened(KeyStyle::Runs, Arrays::Join, Dates::EpochMs, true),
        property_cap: Some(MAX_EVENT_PROPERTIES),
        identify_from_context_traits: true,
        hold_until_ready: false,
    },
    // Profile::Classic
    Knobs {
        scripts: ScriptStyle::ClassicFormsFirst,
        first_page: FirstPage::Nothing,
        page_path: PagePath::None,
        traits: nested(KeyStyle::PerChar),
        reserved_traits: ReservedTraits::Classic,
        names: Names::MappedKeepingSnakeCase,
        track: TrackStyle::ClassicEvent,
        properties: nested(KeyStyle::Unchanged),
        property_cap: None,
        identify_from_context_traits: false,
        hold_until_ready: true,
    },
    // Profile::Actions
    Knobs {
        scripts: ScriptStyle::LoaderFormsAfter,
        first_page: FirstPage::SetPathAndView,
        page_path: PagePath::PathOnly,
        traits: flattened(KeyStyle::Unchanged, Arrays::Index, Dates::Keep, false),
        reserved_traits: ReservedTraits::FieldsOnly,
        names: Names::AsSent,
        track: TrackStyle::CustomBehavioralEvent,
        properties: flattened(KeyStyle::Runs, Arrays::Index, Dates::Keep, false),
        property_cap: None,
        identify_from_context_traits: false,
        hold_until_ready: false,
    },
];
