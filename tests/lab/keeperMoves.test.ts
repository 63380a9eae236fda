/**
 * The canary of the witness drills' keeper check (lab/drill.ts keeperMoveProblems): a keeper that
 * chases a flapping witness, or moves twice within its hold-off, is reported; one that waits its
 * hold-off after the last reconnection is not. What witness-flap found on its first run (a move
 * 0.4 s after the witness came back) is the first case.
 */
import { keeperMoveProblems } from "../../lab/drill";

const HOLD_OFF = 30;
// A flapping witness: reconnected at 100, 110, 120 s (cut in between), the trial's heal at 130 s.
const HEALS = [100, 110, 120, 130];

test("the one move, a hold-off after the last heal: nothing reported", () => {
    expect(keeperMoveProblems([161.3], HEALS, HOLD_OFF)).toEqual([]);
    expect(keeperMoveProblems([], HEALS, HOLD_OFF)).toEqual([]);
});

test("a move right after a reconnection is reported, whichever heal it follows", () => {
    expect(keeperMoveProblems([130.4], HEALS, HOLD_OFF)).toEqual(["the keeper moved the leadership 0.4 s after a heal, within its hold-off"]);
    expect(keeperMoveProblems([112], HEALS, HOLD_OFF)).toEqual(["the keeper moved the leadership 2.0 s after a heal, within its hold-off"]);
});

test("two moves within a hold-off are reported", () => {
    expect(keeperMoveProblems([40, 55], [], HOLD_OFF)).toEqual(["the keeper moved the leadership twice within 15.0 s (hold-off 30 s)"]);
    expect(keeperMoveProblems([40, 70], [], HOLD_OFF)).toEqual([]);
});
