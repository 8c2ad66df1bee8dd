// Build step (Directory.Build.targets): `dotnet fsi build/weaken-glibcxx.fsx <source .so> <destination .so>`
// writes the copy of libLibTorchSharp.so that the build then puts in the output folder.
#load "ElfVersionNeeds.fs"

match fsi.CommandLineArgs |> Array.tail with
| [| source; destination |] -> printfn "%s" (ElfVersionNeeds.weakenedCopy "GLIBCXX_3.4.32" source destination)
| _ ->
    eprintfn "usage: dotnet fsi build/weaken-glibcxx.fsx <libLibTorchSharp.so from the package> <destination>"
    exit 2
