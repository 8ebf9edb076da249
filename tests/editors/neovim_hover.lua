-- Drives `paramlens serve` from Neovim's built-in LSP client (0.7+), headless: attach to the opened file, wait for
-- ParamLens diagnostics, ask for one hover, write what was seen as JSON to $PL_OUT, quit.
local out = os.getenv('PL_OUT')
local client_id = vim.lsp.start_client({
  name = 'paramlens',
  cmd = { os.getenv('PL_SERVER'), 'serve' },
  root_dir = os.getenv('PL_ROOT'),
  init_options = { debounceMs = 0, locale = os.getenv('PL_LOCALE') },
})
vim.lsp.buf_attach_client(0, client_id)

local function paramlens_diagnostics()
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    if d.source == 'paramlens' then
      local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code) or ''
      table.insert(found, { code = code, line = d.lnum })
    end
  end
  return found
end

local ready = vim.wait(120000, function() return #paramlens_diagnostics() > 0 end, 100)
local params = {
  textDocument = { uri = vim.uri_from_bufnr(0) },
  position = { line = tonumber(os.getenv('PL_LINE')), character = tonumber(os.getenv('PL_COL')) },
}
local responses = vim.lsp.buf_request_sync(0, 'textDocument/hover', params, 30000) or {}
local hover = ''
for _, response in pairs(responses) do
  if response.result and response.result.contents then
    hover = response.result.contents.value or ''
  end
end
local file = io.open(out, 'w')
file:write(vim.fn.json_encode({ ready = ready, hover = hover, diagnostics = paramlens_diagnostics() }))
file:close()
vim.lsp.stop_client(client_id, true)
vim.cmd('qa!')
