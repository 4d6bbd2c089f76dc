import Foundation

/// The repository's Fixtures/ folder (written by Fixtures/make_fixtures.py with real PyTorch and
/// PIL), found from this file: <root>/Tests/TestSupport/FixturePaths.swift. The one place tests
/// locate fixtures.
public enum FixturePaths {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// `relative` under Fixtures/, e.g. `url("images")`.
    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// `relative` under Fixtures/ as a file-system path.
    public static func path(_ relative: String) -> String { url(relative).path }
}
