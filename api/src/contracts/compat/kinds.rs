//! The change vocabulary: one [`ChangeKind`] per structural difference, named with Confluent
//! Schema Registry's `Difference.Type` codes, with its BACKWARD compatibility under the strict
//! (Confluent default) and lenient policies, and its mirror image for messages.
//!
//! A few kinds are Switchyard extensions with no Confluent counterpart: `FORMAT_*` (Confluent
//! ignores `format`), `CONDITIONAL_CHANGED` (`if`/`then`/`else`), `MAX_CONTAINS_*` and
//! `REFERENCE_UNRESOLVED_*` (a `$ref` the engine does not resolve because it never fetches) and
//! `COMPARISON_LIMIT_REACHED` (schemas too deep or too interconnected to compare in bounded time).

use serde::{Deserialize, Serialize};

/// Declares [`ChangeKind`] with, per variant: its code and whether it is BACKWARD compatible
/// under the strict policy (`C` compatible, `I` incompatible).
macro_rules! change_kinds {
    ($($variant:ident => $code:literal $compat:ident,)*) => {
        /// What changed between two schemas; serialised (and displayed) as Confluent's code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ChangeKind {
            $(
                #[doc = $code]
                #[serde(rename = $code)]
                $variant,
            )*
        }

        impl ChangeKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ChangeKind] = &[$(ChangeKind::$variant,)*];

            /// The code, e.g. `ENUM_ARRAY_EXTENDED`.
            pub fn code(self) -> &'static str {
                match self {
                    $(ChangeKind::$variant => $code,)*
                }
            }

            /// Whether a reader using the updated schema still accepts every document that the
            /// original schema accepted (Confluent's strict policy).
            pub fn is_compatible(self) -> bool {
                match self {
                    $(ChangeKind::$variant => change_kinds!(@flag $compat),)*
                }
            }
        }
    };
    (@flag C) => { true };
    (@flag I) => { false };
}

change_kinds! {
    IdChanged => "ID_CHANGED" C,
    DescriptionChanged => "DESCRIPTION_CHANGED" C,
    TitleChanged => "TITLE_CHANGED" C,
    DefaultChanged => "DEFAULT_CHANGED" C,
    SchemaAdded => "SCHEMA_ADDED" I,
    SchemaRemoved => "SCHEMA_REMOVED" C,
    TypeExtended => "TYPE_EXTENDED" C,
    TypeNarrowed => "TYPE_NARROWED" I,
    TypeChanged => "TYPE_CHANGED" I,
    MaxLengthAdded => "MAX_LENGTH_ADDED" I,
    MaxLengthRemoved => "MAX_LENGTH_REMOVED" C,
    MaxLengthIncreased => "MAX_LENGTH_INCREASED" C,
    MaxLengthDecreased => "MAX_LENGTH_DECREASED" I,
    MinLengthAdded => "MIN_LENGTH_ADDED" I,
    MinLengthRemoved => "MIN_LENGTH_REMOVED" C,
    MinLengthIncreased => "MIN_LENGTH_INCREASED" I,
    MinLengthDecreased => "MIN_LENGTH_DECREASED" C,
    PatternAdded => "PATTERN_ADDED" I,
    PatternRemoved => "PATTERN_REMOVED" C,
    PatternChanged => "PATTERN_CHANGED" I,
    FormatAdded => "FORMAT_ADDED" I,
    FormatRemoved => "FORMAT_REMOVED" C,
    FormatChanged => "FORMAT_CHANGED" I,
    MaximumAdded => "MAXIMUM_ADDED" I,
    MaximumRemoved => "MAXIMUM_REMOVED" C,
    MaximumIncreased => "MAXIMUM_INCREASED" C,
    MaximumDecreased => "MAXIMUM_DECREASED" I,
    MinimumAdded => "MINIMUM_ADDED" I,
    MinimumRemoved => "MINIMUM_REMOVED" C,
    MinimumIncreased => "MINIMUM_INCREASED" I,
    MinimumDecreased => "MINIMUM_DECREASED" C,
    ExclusiveMaximumAdded => "EXCLUSIVE_MAXIMUM_ADDED" I,
    ExclusiveMaximumRemoved => "EXCLUSIVE_MAXIMUM_REMOVED" C,
    ExclusiveMaximumIncreased => "EXCLUSIVE_MAXIMUM_INCREASED" C,
    ExclusiveMaximumDecreased => "EXCLUSIVE_MAXIMUM_DECREASED" I,
    ExclusiveMinimumAdded => "EXCLUSIVE_MINIMUM_ADDED" I,
    ExclusiveMinimumRemoved => "EXCLUSIVE_MINIMUM_REMOVED" C,
    ExclusiveMinimumIncreased => "EXCLUSIVE_MINIMUM_INCREASED" I,
    ExclusiveMinimumDecreased => "EXCLUSIVE_MINIMUM_DECREASED" C,
    MultipleOfAdded => "MULTIPLE_OF_ADDED" I,
    MultipleOfRemoved => "MULTIPLE_OF_REMOVED" C,
    MultipleOfExpanded => "MULTIPLE_OF_EXPANDED" I,
    MultipleOfReduced => "MULTIPLE_OF_REDUCED" C,
    MultipleOfChanged => "MULTIPLE_OF_CHANGED" I,
    RequiredAttributeAdded => "REQUIRED_ATTRIBUTE_ADDED" I,
    RequiredAttributeWithDefaultAdded => "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED" C,
    RequiredAttributeRemoved => "REQUIRED_ATTRIBUTE_REMOVED" C,
    MaxPropertiesAdded => "MAX_PROPERTIES_ADDED" I,
    MaxPropertiesRemoved => "MAX_PROPERTIES_REMOVED" C,
    MaxPropertiesIncreased => "MAX_PROPERTIES_INCREASED" C,
    MaxPropertiesDecreased => "MAX_PROPERTIES_DECREASED" I,
    MinPropertiesAdded => "MIN_PROPERTIES_ADDED" I,
    MinPropertiesRemoved => "MIN_PROPERTIES_REMOVED" C,
    MinPropertiesIncreased => "MIN_PROPERTIES_INCREASED" I,
    MinPropertiesDecreased => "MIN_PROPERTIES_DECREASED" C,
    AdditionalPropertiesAdded => "ADDITIONAL_PROPERTIES_ADDED" C,
    AdditionalPropertiesRemoved => "ADDITIONAL_PROPERTIES_REMOVED" I,
    AdditionalPropertiesExtended => "ADDITIONAL_PROPERTIES_EXTENDED" C,
    AdditionalPropertiesNarrowed => "ADDITIONAL_PROPERTIES_NARROWED" I,
    DependencyArrayAdded => "DEPENDENCY_ARRAY_ADDED" I,
    DependencyArrayRemoved => "DEPENDENCY_ARRAY_REMOVED" C,
    DependencyArrayExtended => "DEPENDENCY_ARRAY_EXTENDED" I,
    DependencyArrayNarrowed => "DEPENDENCY_ARRAY_NARROWED" C,
    DependencyArrayChanged => "DEPENDENCY_ARRAY_CHANGED" I,
    DependencySchemaAdded => "DEPENDENCY_SCHEMA_ADDED" I,
    DependencySchemaRemoved => "DEPENDENCY_SCHEMA_REMOVED" C,
    OptionalPropertyAddedToOpenContentModel => "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" I,
    RequiredPropertyAddedToOpenContentModel => "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" I,
    RequiredPropertyWithDefaultAddedToOpenContentModel =>
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL" I,
    PropertyWithEmptySchemaAddedToOpenContentModel =>
        "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL" C,
    RequiredPropertyAddedToUnopenContentModel => "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL" I,
    RequiredPropertyWithDefaultAddedToUnopenContentModel =>
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL" C,
    OptionalPropertyAddedToUnopenContentModel => "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL" C,
    PropertyRemovedFromOpenContentModel => "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL" C,
    PropertyWithFalseRemovedFromClosedContentModel =>
        "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL" C,
    PropertyRemovedFromClosedContentModel => "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" I,
    PropertyRemovedIsCoveredByPartiallyOpenContentModel =>
        "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" C,
    PropertyRemovedNotCoveredByPartiallyOpenContentModel =>
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" I,
    PropertyAddedIsCoveredByPartiallyOpenContentModel =>
        "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" C,
    PropertyAddedNotCoveredByPartiallyOpenContentModel =>
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" I,
    MaxItemsAdded => "MAX_ITEMS_ADDED" I,
    MaxItemsRemoved => "MAX_ITEMS_REMOVED" C,
    MaxItemsIncreased => "MAX_ITEMS_INCREASED" C,
    MaxItemsDecreased => "MAX_ITEMS_DECREASED" I,
    MinItemsAdded => "MIN_ITEMS_ADDED" I,
    MinItemsRemoved => "MIN_ITEMS_REMOVED" C,
    MinItemsIncreased => "MIN_ITEMS_INCREASED" I,
    MinItemsDecreased => "MIN_ITEMS_DECREASED" C,
    UniqueItemsAdded => "UNIQUE_ITEMS_ADDED" I,
    UniqueItemsRemoved => "UNIQUE_ITEMS_REMOVED" C,
    MinContainsAdded => "MIN_CONTAINS_ADDED" I,
    MinContainsRemoved => "MIN_CONTAINS_REMOVED" C,
    MinContainsIncreased => "MIN_CONTAINS_INCREASED" I,
    MinContainsDecreased => "MIN_CONTAINS_DECREASED" C,
    MaxContainsAdded => "MAX_CONTAINS_ADDED" I,
    MaxContainsRemoved => "MAX_CONTAINS_REMOVED" C,
    MaxContainsIncreased => "MAX_CONTAINS_INCREASED" C,
    MaxContainsDecreased => "MAX_CONTAINS_DECREASED" I,
    AdditionalItemsAdded => "ADDITIONAL_ITEMS_ADDED" C,
    AdditionalItemsRemoved => "ADDITIONAL_ITEMS_REMOVED" I,
    AdditionalItemsExtended => "ADDITIONAL_ITEMS_EXTENDED" C,
    AdditionalItemsNarrowed => "ADDITIONAL_ITEMS_NARROWED" I,
    ItemAddedToOpenContentModel => "ITEM_ADDED_TO_OPEN_CONTENT_MODEL" I,
    ItemWithEmptySchemaAddedToOpenContentModel => "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL" C,
    ItemAddedToClosedContentModel => "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL" C,
    ItemRemovedFromOpenContentModel => "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL" C,
    ItemWithFalseRemovedFromClosedContentModel =>
        "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL" C,
    ItemRemovedFromClosedContentModel => "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL" I,
    ItemRemovedIsCoveredByPartiallyOpenContentModel =>
        "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" C,
    ItemRemovedNotCoveredByPartiallyOpenContentModel =>
        "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" I,
    ItemAddedIsCoveredByPartiallyOpenContentModel =>
        "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" C,
    ItemAddedNotCoveredByPartiallyOpenContentModel =>
        "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" I,
    EnumArrayExtended => "ENUM_ARRAY_EXTENDED" C,
    EnumArrayNarrowed => "ENUM_ARRAY_NARROWED" I,
    EnumArrayChanged => "ENUM_ARRAY_CHANGED" I,
    CombinedTypeExtended => "COMBINED_TYPE_EXTENDED" C,
    CombinedTypeChanged => "COMBINED_TYPE_CHANGED" I,
    ProductTypeExtended => "PRODUCT_TYPE_EXTENDED" I,
    ProductTypeNarrowed => "PRODUCT_TYPE_NARROWED" C,
    SumTypeExtended => "SUM_TYPE_EXTENDED" C,
    SumTypeNarrowed => "SUM_TYPE_NARROWED" I,
    CombinedTypeSubschemasChanged => "COMBINED_TYPE_SUBSCHEMAS_CHANGED" I,
    NotTypeExtended => "NOT_TYPE_EXTENDED" I,
    NotTypeNarrowed => "NOT_TYPE_NARROWED" C,
    ConditionalChanged => "CONDITIONAL_CHANGED" I,
    ReferenceUnresolvedUnchanged => "REFERENCE_UNRESOLVED_UNCHANGED" C,
    ReferenceUnresolvedChanged => "REFERENCE_UNRESOLVED_CHANGED" I,
    ComparisonLimitReached => "COMPARISON_LIMIT_REACHED" I,
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for ChangeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChangeKind::ALL
            .iter()
            .copied()
            .find(|k| k.code() == s)
            .ok_or_else(|| format!("unknown change kind `{s}`"))
    }
}

/// How strictly open content models are judged, as Confluent's `compatibilityPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Policy {
    /// Confluent's default: a property added to an open content model is incompatible, because
    /// documents written with the old schema may already carry it with another type.
    #[default]
    Strict,
    /// Avro-like: adding/removing optional properties and closing content models is accepted.
    Lenient,
}

impl Policy {
    /// Whether `kind` keeps BACKWARD compatibility under this policy.
    pub fn allows(self, kind: ChangeKind) -> bool {
        use ChangeKind as K;
        kind.is_compatible()
            || (self == Policy::Lenient
                && matches!(
                    kind,
                    K::AdditionalPropertiesRemoved
                        | K::AdditionalPropertiesNarrowed
                        | K::OptionalPropertyAddedToOpenContentModel
                        | K::RequiredPropertyWithDefaultAddedToOpenContentModel
                        | K::PropertyAddedNotCoveredByPartiallyOpenContentModel
                        | K::PropertyRemovedNotCoveredByPartiallyOpenContentModel
                ))
    }
}

/// Pairs of kinds that describe the same difference seen from either side.
const MIRRORS: &[(ChangeKind, ChangeKind)] = {
    use ChangeKind as K;
    &[
        (K::SchemaAdded, K::SchemaRemoved),
        (K::TypeExtended, K::TypeNarrowed),
        (K::MaxLengthAdded, K::MaxLengthRemoved),
        (K::MaxLengthIncreased, K::MaxLengthDecreased),
        (K::MinLengthAdded, K::MinLengthRemoved),
        (K::MinLengthIncreased, K::MinLengthDecreased),
        (K::PatternAdded, K::PatternRemoved),
        (K::FormatAdded, K::FormatRemoved),
        (K::MaximumAdded, K::MaximumRemoved),
        (K::MaximumIncreased, K::MaximumDecreased),
        (K::MinimumAdded, K::MinimumRemoved),
        (K::MinimumIncreased, K::MinimumDecreased),
        (K::ExclusiveMaximumAdded, K::ExclusiveMaximumRemoved),
        (K::ExclusiveMaximumIncreased, K::ExclusiveMaximumDecreased),
        (K::ExclusiveMinimumAdded, K::ExclusiveMinimumRemoved),
        (K::ExclusiveMinimumIncreased, K::ExclusiveMinimumDecreased),
        (K::MultipleOfAdded, K::MultipleOfRemoved),
        (K::MultipleOfExpanded, K::MultipleOfReduced),
        (K::RequiredAttributeAdded, K::RequiredAttributeRemoved),
        (K::MaxPropertiesAdded, K::MaxPropertiesRemoved),
        (K::MaxPropertiesIncreased, K::MaxPropertiesDecreased),
        (K::MinPropertiesAdded, K::MinPropertiesRemoved),
        (K::MinPropertiesIncreased, K::MinPropertiesDecreased),
        (K::AdditionalPropertiesAdded, K::AdditionalPropertiesRemoved),
        (
            K::AdditionalPropertiesExtended,
            K::AdditionalPropertiesNarrowed,
        ),
        (K::DependencyArrayAdded, K::DependencyArrayRemoved),
        (K::DependencyArrayExtended, K::DependencyArrayNarrowed),
        (K::DependencySchemaAdded, K::DependencySchemaRemoved),
        (
            K::OptionalPropertyAddedToOpenContentModel,
            K::PropertyRemovedFromOpenContentModel,
        ),
        (
            K::OptionalPropertyAddedToUnopenContentModel,
            K::PropertyRemovedFromClosedContentModel,
        ),
        (
            K::PropertyAddedIsCoveredByPartiallyOpenContentModel,
            K::PropertyRemovedIsCoveredByPartiallyOpenContentModel,
        ),
        (
            K::PropertyAddedNotCoveredByPartiallyOpenContentModel,
            K::PropertyRemovedNotCoveredByPartiallyOpenContentModel,
        ),
        (K::MaxItemsAdded, K::MaxItemsRemoved),
        (K::MaxItemsIncreased, K::MaxItemsDecreased),
        (K::MinItemsAdded, K::MinItemsRemoved),
        (K::MinItemsIncreased, K::MinItemsDecreased),
        (K::UniqueItemsAdded, K::UniqueItemsRemoved),
        (K::MinContainsAdded, K::MinContainsRemoved),
        (K::MinContainsIncreased, K::MinContainsDecreased),
        (K::MaxContainsAdded, K::MaxContainsRemoved),
        (K::MaxContainsIncreased, K::MaxContainsDecreased),
        (K::AdditionalItemsAdded, K::AdditionalItemsRemoved),
        (K::AdditionalItemsExtended, K::AdditionalItemsNarrowed),
        (
            K::ItemAddedToOpenContentModel,
            K::ItemRemovedFromOpenContentModel,
        ),
        (
            K::ItemAddedToClosedContentModel,
            K::ItemRemovedFromClosedContentModel,
        ),
        (
            K::ItemAddedIsCoveredByPartiallyOpenContentModel,
            K::ItemRemovedIsCoveredByPartiallyOpenContentModel,
        ),
        (
            K::ItemAddedNotCoveredByPartiallyOpenContentModel,
            K::ItemRemovedNotCoveredByPartiallyOpenContentModel,
        ),
        (K::EnumArrayExtended, K::EnumArrayNarrowed),
        (K::ProductTypeExtended, K::ProductTypeNarrowed),
        (K::SumTypeExtended, K::SumTypeNarrowed),
        (K::NotTypeExtended, K::NotTypeNarrowed),
    ]
};

/// Kinds whose mirror is approximate (a special case of the kind they map to).
const ONE_WAY_MIRRORS: &[(ChangeKind, ChangeKind)] = {
    use ChangeKind as K;
    &[
        (
            K::RequiredAttributeWithDefaultAdded,
            K::RequiredAttributeRemoved,
        ),
        (
            K::RequiredPropertyAddedToOpenContentModel,
            K::PropertyRemovedFromOpenContentModel,
        ),
        (
            K::RequiredPropertyWithDefaultAddedToOpenContentModel,
            K::PropertyRemovedFromOpenContentModel,
        ),
        (
            K::PropertyWithEmptySchemaAddedToOpenContentModel,
            K::PropertyRemovedFromOpenContentModel,
        ),
        (
            K::RequiredPropertyAddedToUnopenContentModel,
            K::PropertyRemovedFromClosedContentModel,
        ),
        (
            K::RequiredPropertyWithDefaultAddedToUnopenContentModel,
            K::PropertyRemovedFromClosedContentModel,
        ),
        (
            K::PropertyWithFalseRemovedFromClosedContentModel,
            K::OptionalPropertyAddedToUnopenContentModel,
        ),
        (
            K::ItemWithEmptySchemaAddedToOpenContentModel,
            K::ItemRemovedFromOpenContentModel,
        ),
        (
            K::ItemWithFalseRemovedFromClosedContentModel,
            K::ItemAddedToClosedContentModel,
        ),
    ]
};

/// The kind that describes the same difference seen the other way round (used to phrase a
/// change found by `diff(new, old)` as an evolution from old to new). `None`: symmetric.
pub(crate) fn mirror(kind: ChangeKind) -> Option<ChangeKind> {
    MIRRORS
        .iter()
        .find_map(|&(a, b)| (a == kind).then_some(b).or((b == kind).then_some(a)))
        .or_else(|| {
            ONE_WAY_MIRRORS
                .iter()
                .find_map(|&(a, b)| (a == kind).then_some(b))
        })
}
