// Loads the built assemblies (build first: `dotnet fsi build.fsx build`) and the build output's
// native libraries: its libLibTorchSharp is the patched copy that Debian 12's libstdc++ can load.
#r "../../Lnmn.Train/bin/Release/net10.0/TorchSharp.dll"
#r "../../Lnmn.Train/bin/Release/net10.0/FSharp.SystemTextJson.dll"
#r "../../Lnmn.Train/bin/Release/net10.0/Plotly.NET.dll"
#r "../../Lnmn.Train/bin/Release/net10.0/DynamicObj.dll"
#r "../../Lnmn.Train/bin/Release/net10.0/Giraffe.ViewEngine.dll"
#r "../../Lnmn.Train/bin/Release/net10.0/PureHDF.dll"
#r "../../Lnmn.Train/bin/Release/net10.0/Lnmn.Core.dll"
#r "../../Lnmn.Train/bin/Release/net10.0/Lnmn.Analysis.dll"
#r "../../Lnmn.Train/bin/Release/net10.0/lnmn-train.dll"

open TorchSharp
open Lnmn.Core
open Lnmn.Core.Network
open Lnmn.Core.Training

// Loaded by path first: from a script that #loads this one, TorchSharp's own search misses them and
// falls back to copying the NuGet cache's unpatched libraries into the bin folder.
let private native = System.IO.Path.Combine(__SOURCE_DIRECTORY__, "../../Lnmn.Train/bin/Release/net10.0/runtimes/linux-x64/native")
for library in [ "libtorch.so"; "libLibTorchSharp.so" ] do
    System.Runtime.InteropServices.NativeLibrary.Load(System.IO.Path.Combine(native, library)) |> ignore
torch.InitializeDeviceType DeviceType.CPU

/// The checkpoint's network with its trained parameters (no dataset needed), or exit 1 with the reason.
let loadNetwork (path: string) : Checkpoint.Metadata * LnmnNetwork.LnmnNetwork =
    match Checkpoint.openState path |> Result.map (fun (metadata, state) -> metadata, state.Network) with
    | Ok m -> m
    | Error e ->
        eprintfn "%s" e
        exit 1

/// The script's arguments (after the script's name), or exit 2 with the usage line.
let arguments (usage: string) (count: int) =
    match fsi.CommandLineArgs |> Array.tail with
    | args when args.Length >= count -> args
    | _ ->
        eprintfn "usage: dotnet fsi %s" usage
        exit 2
