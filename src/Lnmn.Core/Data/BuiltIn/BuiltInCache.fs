/// Where the built-in dataset lives: one folder per generator version and options in the user's
/// cache, so that a run finds the same data wherever it is started, and runs with other options or
/// another generator never overwrite each other's.
module Lnmn.Core.Data.BuiltInCache

open System
open System.IO
open System.Security.Cryptography
open System.Text

/// The environment variable that moves the cache.
let variable = "LNMN_DATA"

/// A variable of this process's environment; None when unset or empty.
let processEnvironment (name: string) = Environment.GetEnvironmentVariable name |> Option.ofObj |> Option.filter (fun v -> v <> "")

/// $LNMN_DATA, else $XDG_CACHE_HOME/lnmn, else ~/.cache/lnmn; absolute.
let root (environment: string -> string option) =
    match environment variable, environment "XDG_CACHE_HOME" with
    | Some dir, _ -> dir
    | None, Some cache -> Path.Combine(cache, "lnmn")
    | None, None -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".cache", "lnmn")
    |> Path.GetFullPath

/// `<root>/builtin-v<generator version>-<first 12 hex digits of the SHA-256 of the options JSON>`.
let directory (root: string) (options: BuiltInOptions) =
    let hash = SHA256.HashData(Encoding.UTF8.GetBytes(BuiltIn.optionsJson options))
    Path.Combine(root, $"builtin-v{BuiltIn.generatorVersion}-{Convert.ToHexStringLower(hash).Substring(0, 12)}")
