//! Closed sets of names, each declared once: reasons, actions, verdicts,
//! limits, the event's fields. [`closed_set!`] derives, from the enum's
//! declaration alone, each variant's `snake_case` name (`as_str`, and
//! `parse` back), its index (`index`, in declaration order), the count
//! (`COUNT`) and the full list (`ALL`), with `strum` doing the deriving.

/// Declares a fieldless enum as a closed set (see the module doc).
macro_rules! closed_set {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray, strum::EnumCount)]
        #[strum(serialize_all = "snake_case")]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = <$name as strum::VariantArray>::VARIANTS;

            /// The `snake_case` name, as written in events, labels and the config.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// The position in [`Self::ALL`].
            pub fn index(self) -> usize {
                self as usize
            }
        }
    };
}

pub(crate) use closed_set;
