#pragma once
// The pedalboard's commands (docs/control-plane.md): list_pedals, insert_pedal, remove_pedal,
// move_pedal, bypass_pedal, set_pedal_param, get_board, save_board, load_board, clear_board,
// list_boards. Channels and positions are numbered from 1.

#include "pedalboard.hpp"
#include <jambox/control/commands.hpp>

namespace jambox::box {

void register_pedal_commands(control::CommandProcessor& commands, Pedalboard& board);

}  // namespace jambox::box
