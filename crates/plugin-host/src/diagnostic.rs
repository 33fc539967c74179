//! Configuration problems that name the file, line and column, and say how to fix them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A 1-based line and column in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Where something was written: a file and a position in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as given to the loader.
    pub file: Arc<Path>,
    /// The position in it.
    pub pos: Pos,
}

impl Location {
    /// A location in `file`.
    pub fn new(file: &Arc<Path>, pos: Pos) -> Self {
        Self {
            file: Arc::clone(file),
            pos,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.file.display(),
            self.pos.line,
            self.pos.column
        )
    }
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Something cannot work: the file is refused, or, for a diagnostic about one plugin's
    /// entry, that plugin is `failed` and the others run.
    Error,
    /// Accepted, but probably not what was meant (a deprecated alias, an ignored key).
    Warning,
    /// Accepted as meant, and worth telling the operator once (a folder that replaces a
    /// bundled plugin, a plugin that declares no permissions).
    Info,
}

/// One problem found in the configuration.
///
/// Displays as `FILE:LINE:COL: message`, followed by an indented `help:` line when there is a
/// hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where the problem is.
    pub location: Location,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// The plugin whose entry this is about: its errors fail that plugin only.
    pub plugin: Option<Arc<str>>,
}

impl Diagnostic {
    /// An error at `location`.
    pub fn error(location: Location, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            location,
            message: message.into(),
            hint: None,
            plugin: None,
        }
    }

    /// A warning at `location`.
    pub fn warning(location: Location, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(location, message)
        }
    }

    /// A note at `location`.
    pub fn info(location: Location, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Info,
            ..Self::error(location, message)
        }
    }

    /// Says which plugin's entry this is about.
    pub fn for_plugin(mut self, plugin_id: &str) -> Self {
        self.plugin = Some(Arc::from(plugin_id));
        self
    }

    /// Adds how to fix it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether something cannot work as written (the file, or one plugin).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Whether this error refuses the whole file rather than failing one plugin.
    pub fn refuses_file(&self) -> bool {
        self.is_error() && self.plugin.is_none()
    }

    /// Writes it to the log at its severity.
    pub fn log(&self) {
        match self.severity {
            Severity::Error => tracing::error!("{self}"),
            Severity::Warning => tracing::warn!("{self}"),
            Severity::Info => tracing::info!("{self}"),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
            Severity::Info => "note: ",
        };
        write!(f, "{}: {label}{}", self.location, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n    help: {hint}")?;
        }
        Ok(())
    }
}

/// The configuration was refused; every error found is listed, warnings too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.0.iter().filter(|d| d.is_error()).count();
        writeln!(f, "the plugin configuration has {errors} error(s):")?;
        for diagnostic in &self.0 {
            writeln!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A path made shareable for locations.
pub(crate) fn shared_path(path: &Path) -> Arc<Path> {
    Arc::from(PathBuf::from(path).into_boxed_path())
}
