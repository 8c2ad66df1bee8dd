// Build step (Directory.Build.targets): `dotnet fsi build/weaken-glibcxx.fsx <libLibTorchSharp.so>`.
#load "ElfVersionNeeds.fs"

match fsi.CommandLineArgs |> Array.tail with
| [| path |] -> printfn "%s" (ElfVersionNeeds.weakenIfSystemLacks "GLIBCXX_3.4.32" path)
| _ ->
    eprintfn "usage: dotnet fsi build/weaken-glibcxx.fsx <path to libLibTorchSharp.so>"
    exit 2
