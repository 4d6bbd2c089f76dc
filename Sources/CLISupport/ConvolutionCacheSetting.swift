import Engine

/// The commands' `--conv auto` keeps its measurements in the user's choice cache
/// (`ConvolutionChoiceCache.standard()`: `GRAFT_CONV_CACHE`, `$XDG_CACHE_HOME/graft`,
/// `~/.cache/graft`). Only the executables call it: tests and library users keep no file
/// unless they give a tuner one.
public enum ConvolutionCacheSetting {
    public static func useStandard() {
        ConvolutionChoiceCache.processDefault = ConvolutionChoiceCache.standard()
    }
}
