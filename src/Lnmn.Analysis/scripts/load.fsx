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

/// Prints the message and exits 2: a user's mistake in a script's arguments.
let failUsage (message: string) : 'T =
    eprintfn "%s" message
    exit 2

/// `--name VALUE` taken out of the arguments: its value (None when absent) and the arguments left;
/// exit 2 with the usage line when the value is missing.
let takeOption (name: string) (usage: string) (args: string[]) =
    match Array.tryFindIndex ((=) name) args with
    | Some i when i + 1 < args.Length -> Some args.[i + 1], Array.append args.[.. i - 1] args.[i + 2 ..]
    | Some _ -> failUsage $"usage: dotnet fsi {usage}"
    | None -> None, args

/// MODULE.NODE as alpha.md numbers nodes, or exit 2 naming the option it came with.
let parseNode (option: string) (text: string) =
    match text.Split('.') |> Array.map System.Int32.TryParse with
    | [| (true, m); (true, n) |] -> m, n
    | _ -> failUsage $"{option}: {text} is not MODULE.NODE"

/// Every node of the network's generic cells: (module, node) -> its cell group's α, the cell's
/// index in the group, and the node's index in the cell.
let nodeAlphas (network: LnmnNetwork.LnmnNetwork) =
    let layout, _ = LnmnNetwork.groupModules network.Spec.Modules
    [ for (_, indices), group in List.zip layout network.CellGroups do
        for cell, moduleIndex in List.indexed indices do
            for node in 0 .. Lnmn.Core.Specs.CellKind.nodeCount group.Kind - 1 -> (moduleIndex, node), (group.Alpha, cell, node) ]
    |> Map.ofList

/// Node `node` of cell `cell` in a cell group's α made one-hot at op index `op` (its softmax is 1
/// there to float precision).
let makeOneHot (alpha: torch.Tensor) (cell: int) (node: int) (op: int) =
    use _ = torch.no_grad ()
    let row = alpha.[int64 cell, int64 node]
    row.fill_(-1e4) |> ignore
    row.[int64 op].fill_(0.0) |> ignore
