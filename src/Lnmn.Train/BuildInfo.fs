/// What the build knows about itself, stamped in at build time (build/GitCommit.targets).
module Lnmn.Train.BuildInfo

open System.Reflection

/// The commit this program was built from: 40 hex digits, or "unknown" when it was built outside a
/// git checkout. Independent of the working directory the program runs in.
let gitCommit =
    Assembly.GetExecutingAssembly().GetCustomAttributes<AssemblyMetadataAttribute>()
    |> Seq.tryFind (fun a -> a.Key = "GitCommit")
    |> Option.map (fun a -> a.Value)
    |> Option.defaultValue "unknown"
