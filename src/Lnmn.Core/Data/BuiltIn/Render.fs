/// A scene drawn as a C×H×W feature map: what an image would show, with attributes as channels.
/// Each object paints a soft disc (radius by size) of its one-hot attributes; where discs
/// overlap, the object covering the cell more wins, and on a tie the one nearer the camera.
module Lnmn.Core.Data.Render

open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes

/// Channels: 8 colours, 3 shapes, 2 sizes, 2 materials, then occupancy.
let channelNames =
    [ for a in [ Color; Shape; Size; Material ] do for v in Attribute.values a -> $"{Attribute.name a}={v}" ] @ [ "occupancy" ]

let channels = channelNames.Length

/// Disc radius in cells.
let radius (size: string) = if size = "large" then 0.9 else 0.45

let private attributeChannels (o: SceneObject) =
    let mutable offset = 0
    [ for a in [ Color; Shape; Size; Material ] do
          let values = Attribute.values a
          yield offset + List.findIndex ((=) (SceneObject.attribute a o)) values
          offset <- offset + values.Length ]

/// The object each cell of a gridSize × gridSize map shows, row-major, with its coverage (0–1]:
/// the object covering the cell most, on a tie the one nearer the camera; None where no disc reaches.
let owners (gridSize: int) (scene: Scene) : (int * float) option[] =
    let g = gridSize
    let cellOfObject (o: SceneObject) = (o.Coords[0] + 3.0) / 6.0 * float g - 0.5, (o.Coords[1] + 3.0) / 6.0 * float g - 0.5
    [| for row in 0 .. g - 1 do
           for column in 0 .. g - 1 do
               // (coverage, nearness, object) of the winning object
               let mutable best = None
               for i, o in Array.indexed scene.Objects do
                   let cx, cy = cellOfObject o
                   let d = sqrt ((float column - cx) ** 2.0 + (float row - cy) ** 2.0)
                   let coverage = min 1.0 (max 0.0 (radius o.Size + 0.5 - d))
                   if coverage > 0.0 then
                       match best with
                       | Some(c, near, _) when c > coverage || (c = coverage && near >= o.Coords[1]) -> ()
                       | _ -> best <- Some(coverage, o.Coords[1], i)
               yield best |> Option.map (fun (coverage, _, i) -> i, coverage) |]

/// The map of one scene as C×H×W (row-major), H = W = gridSize; a cell an object covers fully
/// reads `intensity` in its attribute channels.
let render (gridSize: int) (intensity: float) (scene: Scene) : float32[] =
    let g = gridSize
    let result = Array.zeroCreate<float32> (channels * g * g)
    let chans = scene.Objects |> Array.map attributeChannels
    owners g scene
    |> Array.iteri (fun cell owner ->
        match owner with
        | Some(i, coverage) ->
            let value = float32 (coverage * intensity)
            for c in chans[i] do result[c * g * g + cell] <- value
            result[(channels - 1) * g * g + cell] <- value
        | None -> ())
    result
