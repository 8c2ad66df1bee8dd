/// Floating-point operations of one LNMN forward pass, counted from the spec (multiply and add are
/// two operations). Backward is taken as twice forward, the usual estimate for these layers.
module Lnmn.Bench.FlopCount

open Lnmn.Core.Specs

/// Elementwise work per output element of a node in the four-coefficient form: x1 − x2, |·|,
/// x1⊙x2, four scalings, three additions, then square, sum and divide for the L2 normalisation.
let private perNodeElement = 12.0

let forward (spec: ModelSpec) (batch: int) (questionLength: int) =
    let d = spec.Dims
    let b, s = float batch, float questionLength
    let hw = float (d.GridHeight * d.GridWidth)
    let q = float (ModelDims.questionDim d)
    let e, h, D, kb, mem = float d.EmbedDim, float d.LstmHidden, float d.MapDim, float d.KbDim, float d.MemDim
    let lstm = 2.0 * s * b * 8.0 * h * (e + h)
    let image = b * hw * 2.0 * ((float d.InputChannels + 128.0) * kb + kb * kb + kb * D)
    let controllerStep = b * (2.0 * q * q + 4.0 * q * q + 2.0 * q * float spec.Modules.Length + 4.0 * s * q + 2.0 * q * D)
    let cell (kind: CellKind) =
        let full = b * D * hw
        let nodes =
            match kind.Arity with
            | ThreeInput -> 2.0 * full
            | FourInput -> b * hw + 2.0 * full
        let output =
            match kind.Role with
            | Attention -> 2.0 * full
            | Answer -> full + b * 2.0 * mem * (D + mem + D)
        perNodeElement * nodes + output
    let cells = spec.Modules |> List.sumBy (function Generic k -> cell k | NoOp | Hand _ | Concat _ -> 0.0) // LNMN cells only
    let classifier = b * 2.0 * ((q + mem) * 512.0 + 512.0 * float d.Answers)
    lstm + image + float d.Steps * (controllerStep + cells) + classifier

let forwardBackward spec batch questionLength = 3.0 * forward spec batch questionLength
